"""Filtered dense search: which strategy, and the exact one without copying the survivors.

A filter leaves ``count`` of ``total`` rows. Two strategies, chosen per query from ``count``
and ``total`` only, never from the batch size, so a query's answer does not depend on the
queries sent with it:

* **exact** when few rows survive (``use_exact``: few rows, little scoring work, or a small
  fraction of the collection): every surviving row is scored where it is stored. HNSW keeps its
  vectors in a flat faiss storage (normalised for COSINE); FLAT searches the column with its
  kept squared norms. faiss's ``fvec_*_by_idx`` kernels read the surviving rows in place, so
  nothing is gathered or re-normalised. Below a few percent a graph search with a filter also
  loses recall quickly (the admissible nodes stop being connected), which exact search never does.
* **index** otherwise: the ANN index with the mask as a bitmap selector; the index widens its
  search by the selectivity (``dense.HNSWIndex._search_parameters``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..filter_cache import survivors
from . import topk
from .metrics import get_metric
from .query_buffer import NormalisedQuery

# filtered searches whose surviving rows are this few, this little work (rows x dim: the
# scoring of about 1,400 rows of 384-d costs what a widened graph search does) or this small a
# fraction (where a filtered graph search loses recall) run exactly
EXACT_MAX_ROWS = 1024
EXACT_MAX_WORK = 1 << 19
EXACT_MAX_FRACTION = 0.04
# an HNSW search at ef E costs about what exact scoring of EXACT_MAX_WORK * E / EXACT_WORK_EF
# numbers (rows x dim) does (measured at 100k x 384: ef 48 ~ 1,400 rows, ef 1024 ~ 25,000)
EXACT_WORK_EF = 48
# a mask whose rows link to each other in the graph more than chance (``clumping``: 0 for a
# filter independent of the vectors) needs a wider search, and past MAX_CLUMPING an exact one:
# its rows sit together, so a query away from them reaches none of them through the graph
# (measured: clumping 0.03 needs 1.3x the ef of an independent filter, 0.15 needs 16x, the
# rows of a few clusters (0.9) are not found at ef 4096)
CLUMP_FREE = 0.02     # sampling noise of an independent filter's estimate
CLUMP_WIDEN = 10.0    # ef x (1 + CLUMP_WIDEN * (clumping - CLUMP_FREE))
MAX_CLUMPING = 0.06
# ... the less, the deeper the k best admitted rows lie (about the k / s nearest of all rows):
# past CLUMP_DEPTH rows the limit shrinks in proportion (k = 100 at 20 %, clumping 0.035:
# recall 0.85 at ef 300, ef 768 needed)
CLUMP_DEPTH = 200
CLUMP_SAMPLE = 512    # admitted rows whose graph links are looked at


def use_exact(count: int, total: int, dim: int = 0, impl: Any = None, k: int = 10,
              params: dict | None = None, info: Any = None) -> bool:
    """Whether a filter leaving ``count`` of ``total`` rows (vectors of ``dim`` numbers) is
    searched exactly. With the index (``impl``), the request's ``k`` and ``params`` and the
    mask's ``filter_cache.Survivors`` (``info``), an HNSW index also answers whether its graph
    search would cost more than exact scoring or cannot reach the rows (``graph_ef``)."""
    if count <= EXACT_MAX_ROWS or count * dim <= EXACT_MAX_WORK or \
            count <= EXACT_MAX_FRACTION * total:
        return True
    plan = getattr(impl, "filtered_plan", None)
    return plan is not None and info is not None and plan(info, total, k, params) is None


def filtered_ef(ef: int, k: int, selectivity: float) -> int:
    """HNSW ``ef`` for a search that admits a ``selectivity`` fraction of the rows, spread
    through the graph independently of the vectors (see :func:`clumping` for the other kind).

    faiss keeps the ``k`` best admissible rows among those an ``ef`` search visits (of every
    kind), so a filter needs a wider search. Measured with faiss on an ef grid of step 4
    (``bench/filter_recall_sweep.py``: clustered 100k x 384, 50k x 384, 80k x 128, uniform
    50k x 128; COSINE and L2), recall@10 >= 0.95 needs ef 44-52 at 7-10 %, 28-40 at 20-30 %
    and 32-36 at 50 % from a user ef of 16; ``base * 1.06 * s ** -0.18`` with base
    ``max(ef, k, 32)`` gives 55, 51, 46, 42 and 38. The k best admissible rows are about the
    ``d = k / s`` nearest of all rows, and a deep answer needs relatively more: recall 0.95
    took ef ~0.5 d at d = 100-200 (the query's own neighbourhood) but ~1.0 d at d = 1,000
    (k = 100 at 10 %: its rows span several clusters; 0.4-0.7 at ef 240), and 0.94 at ef 256
    for d = 333 on a graph built with efConstruction 100. ``min(d, d^2 / 200)`` keeps that
    (50 at d = 100, d from d = 200)."""
    base = max(ef, k, 32)
    depth = k / selectivity
    wide = max(base * 1.06 * selectivity ** -0.18, min(depth, depth * depth / 200.0))
    return int(min(math.ceil(wide), max(ef, 4096)))


def clumping(neighbors: np.ndarray, offsets: np.ndarray, degree: int, mask: np.ndarray,
             rows: np.ndarray, covered: int) -> float:
    """How much more the admitted rows link to admitted rows in the graph than chance would
    make them: ``(h - s) / (1 - s)``, with ``h`` the admitted fraction of the level-0 links
    of up to ``CLUMP_SAMPLE`` admitted rows (spread evenly over ``rows``, all ``< covered``)
    and ``s`` the admitted fraction of the ``covered`` rows. About 0 for a filter independent
    of the vectors, near 1 for the rows of a few clusters or a range of a field that follows
    the vectors. ``neighbors`` / ``offsets``: faiss's HNSW arrays (level 0 first)."""
    n = len(rows)
    if n == 0 or covered <= 0:
        return 0.0
    pick = rows[np.linspace(0, n - 1, min(CLUMP_SAMPLE, n)).astype(np.int64)]
    links = neighbors[offsets[pick].astype(np.int64)[:, None] + np.arange(degree)]
    links = links[links >= 0]
    s = n / covered
    if not len(links) or s >= 1.0:
        return 0.0
    h = float(np.count_nonzero(mask[links])) / len(links)
    return (h - s) / (1.0 - s)


def graph_ef(count: int, total: int, dim: int, ef: int, k: int, clumped: float,
             metric: str = "COSINE") -> int | None:
    """The ef of an HNSW search for a mask of ``count`` of ``total`` rows with ``clumping``
    ``clumped``, or None when exact search is the better plan: the admitted rows sit together
    in the graph (a query away from them would not reach them), scoring them all costs no
    more than the widened graph search, or the graph is an inner-product one (``IP`` over
    vectors of any norm: with a filter independent of the vectors, recall@10 0.64-0.84 at
    7-20 % and 0.90-0.94 at 30-50 % at the widened ef, and k = 100 below 0.95 at every ef up
    to 4,096, on clustered 50k x 384, where the same graph unfiltered gives 0.97 at ef 16)."""
    if metric == "IP":
        return None
    selectivity = count / max(1, total)
    if clumped > MAX_CLUMPING * min(1.0, CLUMP_DEPTH * selectivity / max(1, k)):
        return None
    wide = filtered_ef(ef, k, selectivity)
    if clumped > CLUMP_FREE:
        wide = int(math.ceil(wide * (1.0 + CLUMP_WIDEN * (clumped - CLUMP_FREE))))
    if count * dim * EXACT_WORK_EF <= wide * EXACT_MAX_WORK:
        return None
    return wide


def stored_base(impl: Any, vectors: np.ndarray, metric: str) -> tuple[np.ndarray, int, bool, Any] | None:
    """``(base, covered rows, normalised, squared norms)``: a float32 matrix whose rows
    ``[0, covered)`` are the rows' vectors as the index scores them, read in place; None when
    there is none (IVF, float16 / int8 columns without a flat storage)."""
    stored = getattr(impl, "stored_vectors", None)
    base = stored() if stored is not None else None
    if base is not None:
        return base, len(base), metric == "COSINE", None
    if vectors.dtype != np.float32 or vectors.ndim != 2 or not vectors.flags.c_contiguous:
        return None
    sqnorms = getattr(impl, "sqnorms", None)
    if metric == "COSINE":
        if sqnorms is None or len(sqnorms) < len(vectors):
            return None
        return vectors, len(vectors), False, sqnorms
    return vectors, len(vectors), False, None


def _by_idx(q: np.ndarray, base: np.ndarray, rows: np.ndarray, inner: bool) -> np.ndarray:
    """``q @ base[rows].T`` (inner) or squared L2 distances, without gathering ``base[rows]``."""
    from .dense import faiss_module

    faiss = faiss_module()
    kernel = faiss.fvec_inner_products_by_idx if inner else faiss.fvec_L2sqr_by_idx
    nq, d = q.shape
    out = np.empty((nq, len(rows)), dtype=np.float32)
    m = len(rows)
    y = faiss.swig_ptr(base)
    if nq > 1:
        # queries in parallel (the kernel's OpenMP loop runs over queries and takes one id
        # list per query): each score is the same dot product as for a single query
        step = max(1, (1 << 20) // max(1, m))
        tiled = np.broadcast_to(rows, (min(step, nq), m)).copy()
        for s in range(0, nq, step):
            e = min(nq, s + step)
            kernel(faiss.swig_ptr(out[s:e]), faiss.swig_ptr(q[s:e]), y, faiss.swig_ptr(tiled),
                   d, e - s, m)
        return out
    # for one query the kernel still opens an OpenMP region: on a busy machine, waiting for the
    # idle team costs milliseconds. One thread for this call (the setting is per calling thread)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        kernel(faiss.swig_ptr(out), faiss.swig_ptr(q), y, faiss.swig_ptr(rows), d, 1, m)
    finally:
        faiss.omp_set_num_threads(threads)
    return out


def exact_rows(queries: np.ndarray, stored: tuple, rows: np.ndarray, metric_type: str, k: int,
               pk_of: topk.PkOf | None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of ``queries`` among ``rows`` (ascending, all ``< covered``) of ``stored`` (from
    :func:`stored_base`). Keys as :func:`metrics.to_key` (smaller is better)."""
    from .dense import normalized
    from .exact import as_float32

    base, _, is_normalised, sqnorms = stored
    metric = get_metric(metric_type).name
    q = np.ascontiguousarray(as_float32(queries), dtype=np.float32)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    if metric == "L2":
        keys = _by_idx(q, base, rows, inner=False)
    elif metric == "COSINE" and is_normalised:
        keys = _by_idx(normalized(q), base, rows, inner=True)   # as the index scores it
        np.negative(keys, out=keys)
    else:
        keys = _by_idx(q, base, rows, inner=True)
        if metric == "COSINE":   # the column's own vectors: divide by both norms (metrics._cosine)
            qn = np.sqrt(np.einsum("ij,ij->i", q, q))
            qn[qn == 0] = 1.0
            xn = np.sqrt(sqnorms[rows])
            xn[xn == 0] = 1.0
            keys /= qn[:, None]
            keys /= xn[None, :]
        np.negative(keys, out=keys)
    if len(keys) == 1:
        out = _select_one(keys[0], rows, k)
        if out is not None:
            return out
    return topk.select(keys, rows, k, pk_of)


def _select_one(keys: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """One query's top-k in a few array calls; None when a tie (or a NaN) needs the general
    :func:`topk.select`, which orders tied rows by primary key."""
    m = len(keys)
    kk = min(k, m)
    if kk < 2 or m <= kk:
        return None
    part = np.argpartition(keys, kk - 1)[:kk]
    best = keys[part]
    order = np.argsort(best)
    best = best[order]
    # the k-th key shared with a row left out, two kept rows tied, or NaN: the general path
    if not (best[-1] < np.inf) or np.count_nonzero(keys <= best[-1]) != kk or \
            not (best[1:] > best[:-1]).all():
        return None
    out_rows = np.full((1, k), -1, dtype=np.int64)
    out_keys = np.full((1, k), np.inf, dtype=np.float32)
    out_rows[0, :kk] = rows[part[order]]
    out_keys[0, :kk] = best
    return out_rows, out_keys



_F32 = np.dtype(np.float32)
_LANE = "masked_one.lane"
_NORM_SQ: tuple | None = None   # (faiss's fvec_norm_L2sqr builtin, swig_ptr), bound on first use


def finite_query(v: np.ndarray) -> bool:
    """Whether one C-contiguous float32 query's squared norm is finite (no NaN, no inf, no
    float32 overflow): the single-query lanes' check before faiss (anything else they decline
    to the general path, where ``dense_queries`` words it). By faiss's ``fvec_norm_L2sqr``,
    not ``v.dot(v)``: numpy warns "overflow encountered in dot" (raises under ``-W error`` or
    ``np.errstate(over="raise")``) for finite components near 1e19, a query the general path
    answers without a warning; the C call is also cheaper than numpy's dot."""
    bound = _NORM_SQ
    if bound is None:
        bound = _bind_norm_sq()
    return math.isfinite(bound[0](bound[1](v), v.shape[0]))


def _bind_norm_sq() -> tuple:
    global _NORM_SQ
    from .dense import faiss_module, raw_swig_ptr

    wrapper = faiss_module().fvec_norm_L2sqr
    module = getattr(wrapper, "__globals__", {}).get("_swigfaiss")
    _NORM_SQ = (getattr(module, "fvec_norm_L2sqr", wrapper), raw_swig_ptr())
    return _NORM_SQ   # a mask's ``derived`` key: (_LANE, k, the caller's raw ef)


class MaskedLane:
    """What :func:`search_masked_one` keeps per (mask, index, k, raw ef): the plan (faiss's
    search parameters with the mask's selector from ``HNSWIndex.masked_lane``, or None for an
    exact plan) and the arrays faiss reads and writes, made once with their SWIG pointers: the
    normalised query (COSINE: ``query_buffer.NormalisedQuery``), one query's distances and rows.
    The arrays are used only under the index entry's lock, which every search of the index
    holds anyway (an allocation per call costs a microsecond or more with the CPU caches cold
    from the graph search)."""

    __slots__ = ("impl", "rows", "fparams", "cosine", "follow", "larger", "ptr", "normaliser",
                 "dist", "labels", "dist_ptr", "labels_ptr")

    def __init__(self, impl: Any, total: int, k: int, planned: tuple) -> None:
        self.impl, self.rows, self.fparams = impl, total, None
        if planned[2] is None:
            return   # exact: the other paths search it
        _, _, self.fparams, self.cosine, self.follow, self.larger, ptr = planned
        self.ptr = ptr
        self.normaliser = NormalisedQuery(impl.dim, ptr) if self.cosine else None
        self.dist = np.empty(k, _F32)
        self.labels = np.empty(k, np.int64)
        self.dist_ptr, self.labels_ptr = ptr(self.dist), ptr(self.labels)


def search_masked_one(entry: Any, v: np.ndarray, k: int, params: dict, view: Any,
                      mask: np.ndarray) -> tuple[list, list, MaskedLane] | None:
    """``IndexManager.search_covered(entry, v[None, :], k, params, pk_of, view, mask)`` for
    one C-contiguous float32 query ``v`` of the index's dim and a cached filter mask on an
    HNSW graph that covers exactly the rows of ``view`` (a ``readview.SearchSnapshot``), in
    fewer Python steps (a graph search evicts the CPU caches the interpreter runs in, so
    every step after it costs about twice what it does warm): ``(distances, primary keys,
    the MaskedLane)``, the first two lists, faiss's own distances (the metric's convention),
    best first (``search_fast`` keeps the lane's arrays for the next call of the same filter
    on the same collection state). None when it is
    not that call (exact plan, another index, a tail, a query that is not finite, a tie or an
    empty slot in the answer): the caller runs ``search_covered`` / ``search``, which give the
    same answer for the rest.

    The first call of a (mask, index, k, ef) plans it (``HNSWIndex.masked_lane``) and keeps
    the plan in the mask's ``derived`` dict: later calls make one dict lookup, then the faiss
    call under the entry's lock."""
    info = survivors(mask)
    impl = entry.impl
    total = view.num_rows_total
    try:
        # the raw ef with its type: True == 1 and 16.0 == 16 hash alike, but a bool is a
        # ParamError (int_param), so a lane planned for 1 must not answer True
        ef = params.get("ef") if params else None
        key = (_LANE, k, ef, type(ef))
        lane = info.derived.get(key)
    except TypeError:   # an unhashable ef: the general path words the error
        return None
    if lane is None or lane.impl is not impl or lane.rows != total:
        planned = _plan_lane(entry, impl, k, params, view, info, total)
        if planned is None:
            return None
        lane = info.derived[key] = MaskedLane(impl, total, k, planned)
    fparams = lane.fparams
    if fparams is None:
        return None   # planned exact
    if not lane.cosine and not finite_query(v):
        return None   # NaN or inf: dense_queries words it
    with entry.lock:   # as search_covered: the index covers exactly these rows
        if entry.impl is not impl or impl.ntotal != total or entry.generation != view.generation:
            return None
        if view.owner.generation != view.generation:
            view.check_current()   # raises StaleViewError
        if lane.cosine:   # bit for bit as dense.normalized (its sum: the finiteness check)
            qp = lane.normaliser.pointer(v)
            if qp is None:
                return None
        else:
            qp = lane.ptr(v)
            if lane.follow:   # HNSWIndex.search under L2/IP: the graph reads the column's buffer
                impl.follow_column(view.dense_vectors(entry.spec.field_name))
        impl.index.search_c(1, qp, k, lane.dist_ptr, lane.labels_ptr, fparams)
        # read out before the lock goes (the arrays are the lane's); an empty slot (-1) has
        # no primary key (a SearchSnapshot's pk_values is numpy alone: no lock taken)
        if min(lane.labels.tolist()) < 0:
            return None
        dl = lane.dist.tolist()
        pks = view.pk_values(lane.labels)
    # faiss's order is the answer when the distances strictly run best-first (no tie to
    # order by primary key), every slot holds a row and none is infinite or NaN
    if lane.larger:
        if not (dl[-1] > -math.inf and all(map(float.__gt__, dl, dl[1:]))):
            return None
    elif not (dl[-1] < math.inf and all(map(float.__lt__, dl, dl[1:]))):
        return None
    return dl, pks, lane


def _plan_lane(entry: Any, impl: Any, k: int, params: dict, view: Any, info: Any,
               total: int) -> tuple | None:
    """The plan of a (mask, index, k, ef): ``(index, rows, faiss parameters or None for an
    exact plan, cosine, follows the column, larger is better, swig_ptr)`` (``MaskedLane``
    keeps it); None when the call is not this path's (another index kind, a tail, an index
    behind the view)."""
    lane_of = getattr(impl, "masked_lane", None)
    if lane_of is None or impl.ntotal != total or entry.generation != view.generation or \
            len(info.mask) != total or entry.kind != "dense" or k > total:
        return None
    if info.count == total:
        return None   # no filter at all: the unfiltered paths
    if use_exact(info.count, total, impl.dim):
        return (impl, total, None)   # few rows: exact, decided without the lock or the graph
    with entry.lock:   # the plan reads the graph's links
        if entry.impl is not impl or impl.ntotal != total or entry.generation != view.generation:
            return None
        view.check_current()
        if use_exact(info.count, total, impl.dim, impl, k, params, info):
            return (impl, total, None)
        return lane_of(k, params, info)
