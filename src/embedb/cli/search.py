"""``embedb search``: dense, BM25 or hybrid (fused) search with raw query text, optional filter and
reranking. :func:`search_texts` is also what ``embedb eval`` and the demo measure."""

from __future__ import annotations

from typing import Any

import click

from ..errors import ParamError
from .app import collection_option, db_option, ensure_loaded, open_client, resolve_collection
from .fusion import DEFAULT_FUSION, parse_fusion
from .layout import Layout, read_layout
from .models import DEFAULT_MODEL, load_embedding, load_reranker
from .output import emit_rows, output_options

MODES = ("dense", "bm25", "hybrid")


def embedding_for(layout: Layout, model: str | None = None):
    """The query encoder for a collection: ``--model``, else the model ingest recorded, else the
    default model when the vector size fits it."""
    spec = model or layout.model
    if spec is None:
        if layout.dim not in (None, 384):
            raise ParamError(f"collection {layout.name!r} has {layout.dim}-d vectors and no recorded "
                             "model: name the model that made them with --model")
        spec = DEFAULT_MODEL
    ef = load_embedding(spec)
    if layout.dim is not None and getattr(ef, "dim", layout.dim) != layout.dim:
        raise ParamError(f"model {spec!r} makes {ef.dim}-d vectors but collection {layout.name!r} "
                         f"holds {layout.dim}-d vectors")
    return ef


def search_texts(client, layout: Layout, queries: list[str], mode: str, ef=None, limit: int = 10,
                 filter: str = "", output_fields: list[str] | None = None,
                 candidates: int | None = None, fusion: str | None = None,
                 ranker: Any = None) -> list[list[dict]]:
    """Search with raw texts; one list of hits (``{"id", "distance", "entity"}``) per query.
    ``candidates`` is how many hits each side of a hybrid search contributes to the fusion;
    ``fusion`` a ``--fusion`` spec (:mod:`embedb.cli.fusion`; default: the measured best);
    ``ranker`` a rerank Function run inside the search instead (a hybrid search then scores the
    union of both sides' candidates with it)."""
    if mode not in MODES:
        raise ParamError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
    if not queries:
        return []
    fields = output_fields if output_fields is not None else ([layout.text] if layout.has(layout.text) else [])
    if mode == "bm25":
        return client.search(layout.name, data=list(queries), anns_field=layout.require_bm25(),
                             limit=limit, filter=filter, output_fields=fields, ranker=ranker)
    dense = layout.require_dense()
    if layout.embeds:   # the collection's TEXTEMBEDDING function embeds the query texts itself
        vectors = list(queries)
    elif ef is None:
        raise ParamError("dense and hybrid search need an embedding function")
    else:
        vectors = [v for v in ef.encode_queries(list(queries))]
    if mode == "dense":
        return client.search(layout.name, data=vectors, anns_field=dense, limit=limit,
                             filter=filter, output_fields=fields, ranker=ranker)
    from embedb import AnnSearchRequest

    per_side = max(candidates or 0, limit)
    reqs = [AnnSearchRequest(data=vectors, anns_field=dense, param={}, limit=per_side,
                             expr=filter or None),
            AnnSearchRequest(data=list(queries), anns_field=layout.require_bm25(), param={},
                             limit=per_side, expr=filter or None)]
    return client.hybrid_search(layout.name, reqs, ranker or parse_fusion(fusion), limit=limit,
                                output_fields=fields)


def rerank_function(spec: str, layout: Layout, queries: list[str]):
    """``--rerank FOLDER`` (or ``bge:FOLDER``) as a model rerank Function over the text field."""
    from pathlib import Path

    from embedb import Function, FunctionType

    kind, _, path = spec.partition(":") if spec.startswith("bge:") else ("", "", spec)
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ParamError(f"reranker model not found: {spec!r} (give the folder of a local "
                         "cross-encoder model, or bge:FOLDER for a BGE reranker)")
    params = {"reranker": "model", "provider": "local", "model_name": str(folder.resolve()),
              "queries": list(queries)}
    if kind == "bge":
        params["model_kind"] = "bge"
    return Function("cli_rerank", FunctionType.RERANK, [layout.text], params=params)


def hit_text(hit: Any, layout: Layout) -> str:
    entity = hit.get("entity") or {}
    return str(entity.get(layout.text, "")) if layout.text else ""


def rerank_hits(reranker, query: str, hits: list, layout: Layout, limit: int) -> list[tuple[Any, float]]:
    """Reorder hits with a reranker; returns ``(hit, rerank score)`` best first."""
    if not hits:
        return []
    texts = [hit_text(h, layout) for h in hits]
    results = reranker(query, texts, top_k=min(limit, len(texts)))
    return [(hits[r.index], float(r.score)) for r in results]


def snippet(text: str, width: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


@click.command()
@click.argument("query")
@db_option
@collection_option
@click.option("--mode", type=click.Choice(MODES), default=None,
              help="dense vectors, BM25 full text, or both fused (default: hybrid when "
                   "the collection has both).")
@click.option("--fusion", default=DEFAULT_FUSION, show_default=True, metavar="SPEC",
              help="How hybrid merges dense and BM25: rrf[:K], weighted[:W], dbsf[:W], "
                   "convex[:W] (W = dense weight).")
@click.option("--filter", "filter_", default="", metavar="EXPR",
              help="Filter expression, e.g. 'source like \"%faq%\"'.")
@click.option("--limit", "-n", default=5, show_default=True, type=click.IntRange(1, 16384),
              help="Number of hits.")
@click.option("--rerank", default=None, metavar="MODEL",
              help="Rerank with a local cross-encoder folder (or bge:FOLDER).")
@click.option("--candidates", default=50, show_default=True, type=click.IntRange(1, 16384),
              help="Hits fetched for fusion and reranking.")
@click.option("--model", default=None, metavar="MODEL", help="Query embedding model (default: the collection's).")
@click.option("--output-field", "-o", "extra_fields", multiple=True, metavar="FIELD",
              help="Also show this field (repeatable).")
@output_options
def search(query, db, collection, mode, fusion, filter_, limit, rerank, candidates, model, extra_fields, fmt):
    """Search a collection with text and print ranked hits with score and a snippet.

    \b
    Example:
        embedb search "where was Turing born?" --db notes.db
        embedb search "turing" --db notes.db --mode bm25 --filter 'chunk == 0' -n 3 --json
    """
    client = open_client(db, read_only=True)
    layout = read_layout(client, resolve_collection(client, collection))
    ensure_loaded(client, layout.name)
    mode = mode or layout.default_mode()
    # a collection with a TEXTEMBEDDING function embeds the query itself; --model is then only
    # checked against it
    ef = embedding_for(layout, model) if mode != "bm25" and (model or not layout.embeds) else None
    fields = list(dict.fromkeys([f for f in (layout.text, "source") if f in layout.fields]
                                + ([layout.text] if layout.has(layout.text) else [])
                                + list(extra_fields)))
    if fmt != "table" and layout.dynamic:
        fields.append("$meta")  # JSON and CSV carry each hit's metadata (dynamic fields) too
    fetch = max(limit, candidates) if rerank else limit
    # a schema text field: the model reranks inside the search (a rerank Function); a dynamic
    # "text" key cannot feed a Function, so those hits are reranked here
    in_search = bool(rerank) and layout.text in layout.fields
    ranker = rerank_function(rerank, layout, [query]) if in_search else None
    hits = search_texts(client, layout, [query], mode, ef, limit=fetch, filter=filter_,
                        output_fields=fields, candidates=candidates, fusion=fusion,
                        ranker=ranker)[0]
    scored = [(h, float(h["distance"])) for h in hits]
    if rerank and not in_search:
        scored = rerank_hits(load_reranker(rerank), query, list(hits), layout, limit)
    rows = []
    for rank, (hit, score) in enumerate(scored[:limit], 1):
        entity = dict(hit.get("entity") or {})
        text = entity.pop(layout.text, "") if layout.text else ""
        pk = hit["id"]
        if fmt == "table" and isinstance(pk, str) and len(pk) > 40:
            pk = "…" + pk[-39:]  # ingest ids are long paths; the tail names the file and chunk
        row = {"rank": rank, "score": score, "id": pk,
               "text": text if fmt == "json" else snippet(str(text))}
        if fmt == "table":  # keep the table narrow: the source is already in the chunk id
            entity = {k: v for k, v in entity.items() if k in extra_fields}
        row.update(entity)
        rows.append(row)
    emit_rows(rows, fmt, columns=None, title=f"{mode} search in {layout.name!r}")
