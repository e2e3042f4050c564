"""``--fusion`` on the command line: how a hybrid search merges its dense and BM25 hit lists.

A spec is ``NAME`` or ``NAME:VALUE``:

- ``rrf`` / ``rrf:K``: reciprocal rank fusion with ``k`` (default 60, Milvus's default);
- ``weighted`` / ``weighted:W``: Milvus's WeightedRanker (arctan-normalised scores) with weight
  ``W`` on the dense side and ``1 - W`` on BM25 (default 0.5);
- ``dbsf`` / ``dbsf:W``: distribution-based score fusion (Qdrant's), dense weight ``W``;
- ``convex`` / ``convex:W``: min-max scaled scores, ``W * dense + (1 - W) * bm25``.

The default was chosen by measuring every one with ``embedb eval`` (docs/search.md).
"""

from __future__ import annotations

from ..errors import ParamError

FUSIONS = ("rrf", "weighted", "dbsf", "convex")
# measured on msmarco-5k (docs/search.md, "Choosing the fusion"): the best of the table, and
# the middle of a plateau (convex 0.65-0.75 all beat dense alone), not a lucky single point
DEFAULT_FUSION = "convex:0.7"


def parse_fusion(spec: str | None):
    """The ranker object for a ``--fusion`` spec (see the module docstring)."""
    from embedb import ConvexRanker, DBSFRanker, RRFRanker, WeightedRanker

    spec = (spec or DEFAULT_FUSION).strip().lower()
    name, _, value = spec.partition(":")
    if name not in FUSIONS:
        raise ParamError(f"unknown fusion {spec!r}; choose from {', '.join(FUSIONS)} "
                         "(optionally NAME:VALUE, e.g. rrf:20 or convex:0.7)")
    number = None
    if value:
        try:
            number = float(value)
        except ValueError:
            raise ParamError(f"fusion {spec!r}: {value!r} is not a number") from None
    if name == "rrf":
        k = 60 if number is None else number
        return RRFRanker(int(k) if float(k).is_integer() else k)
    w = 0.5 if number is None else number
    if not 0.0 <= w <= 1.0:
        raise ParamError(f"fusion {spec!r}: the dense weight must be in [0, 1], got {w}")
    cls = {"weighted": WeightedRanker, "dbsf": DBSFRanker, "convex": ConvexRanker}[name]
    return cls(w, 1.0 - w)


def parse_fusion_list(text: str | None) -> list[str]:
    """``--fusion a,b,c`` for ``embedb eval``: each spec checked, order kept."""
    specs = [s.strip() for s in (text or DEFAULT_FUSION).split(",") if s.strip()]
    for s in specs:
        parse_fusion(s)
    return specs or [DEFAULT_FUSION]
