"""Index layer against plain NumPy brute force on random data (no collection involved)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from embedb.engine.index import topk
from embedb.engine.index.base import SearchRequest
from embedb.engine.index.binary import BinFlatIndex, BinIVFIndex
from embedb.engine.index.dense import DENSE_INDEXES
from embedb.engine.index.exact import exact_search
from embedb.engine.index.metrics import get_metric
from embedb.engine.index.sparse import SparseInvertedIndex, drop_smallest, sparse_ip_search
from embedb.errors import ParamError

PK = lambda rows: np.asarray(rows)  # noqa: E731  (row number = primary key here)


def clustered(n, d, centres=50, seed=0, noise=0.15):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, d)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + noise * rng.standard_normal((n, d)).astype(np.float32)
    return x.astype(np.float32)


def reference_dist(q, x, metric):
    q = q.astype(np.float64)
    x = x.astype(np.float64)
    if metric == "L2":
        return ((q[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    if metric == "IP":
        return q @ x.T
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    return qn @ xn.T


def reference_topk(dist, k, metric, allowed=None):
    """(distance, pk) order, as embedb promises on exact paths."""
    key = -dist if metric in ("IP", "COSINE") else dist
    out = []
    for qi in range(len(key)):
        rows = np.arange(key.shape[1]) if allowed is None else np.flatnonzero(allowed)
        order = np.lexsort((rows, key[qi, rows]))[:k]
        out.append(rows[order])
    return out


def recall(got, truth):
    return np.mean([len(set(g[g >= 0]) & set(t)) / max(1, len(t)) for g, t in zip(got, truth)])


@pytest.mark.parametrize("metric", ["L2", "IP", "COSINE"])
def test_exact_matches_brute_force(metric):
    x = clustered(3000, 24, seed=1)
    q = clustered(7, 24, seed=2)
    rows, keys = exact_search(q, x, metric, 10, pk_of=PK)
    ref = reference_dist(q, x, metric)
    truth = reference_topk(ref, 10, metric)
    for i in range(len(q)):
        np.testing.assert_array_equal(rows[i], truth[i])
        d = -keys[i] if metric != "L2" else keys[i]
        np.testing.assert_allclose(d, ref[i, truth[i]], rtol=1e-4, atol=1e-3)


def test_exact_ties_are_broken_by_pk():
    x = np.repeat(np.eye(4, dtype=np.float32), 5, axis=0)   # 5 copies of each unit vector
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(x))
    x = x[perm]
    pk = lambda rows: (100 - np.asarray(rows))  # noqa: E731  pk order opposite to row order
    rows, _ = exact_search(x[:1] * 1, x, "IP", 3, pk_of=pk)
    same = np.flatnonzero((x == x[0]).all(1))
    expected = same[np.argsort(100 - same)][:3]
    np.testing.assert_array_equal(rows[0], expected)


@pytest.mark.parametrize("metric", ["L2", "COSINE"])
def test_exact_with_mask_and_range(metric):
    x = clustered(2000, 16, seed=3)
    q = clustered(4, 16, seed=4)
    rng = np.random.default_rng(5)
    allowed = rng.random(len(x)) < 0.3
    ref = reference_dist(q, x, metric)
    rows, _ = exact_search(q, x, metric, 15, allowed=allowed, pk_of=PK)
    for i, t in enumerate(reference_topk(ref, 15, metric, allowed)):
        np.testing.assert_array_equal(rows[i], t)
    # range: L2 range_filter <= d < radius ; COSINE radius < d <= range_filter
    lo, hi = np.quantile(ref, 0.02), np.quantile(ref, 0.05)
    radius, rf = (hi, lo) if metric == "L2" else (lo, hi)
    rows, keys = exact_search(q, x, metric, 5000, radius=radius, range_filter=rf, pk_of=PK)
    for i in range(len(q)):
        inside = (ref[i] >= rf) & (ref[i] < radius) if metric == "L2" else \
            (ref[i] > radius) & (ref[i] <= rf)
        got = set(rows[i][rows[i] >= 0].tolist())
        # rows within float32 rounding of a bound may land on either side
        border = np.isclose(ref[i], radius, atol=1e-4) | np.isclose(ref[i], rf, atol=1e-4)
        assert got - set(np.flatnonzero(border)) == set(np.flatnonzero(inside & ~border))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=40), st.integers(1, 12))
def test_select_matches_lexsort(values, k):
    keys = np.asarray(values, dtype=np.float32)[None, :]
    rows = np.arange(len(values))
    pks = np.random.default_rng(len(values)).permutation(len(values))
    pk = lambda r: pks[np.asarray(r)]  # noqa: E731
    got_rows, got_keys = topk.select(keys, rows, k, pk)
    order = np.lexsort((pks, keys[0]))[:k]
    valid = got_rows[0] >= 0
    np.testing.assert_array_equal(got_rows[0][valid], rows[order])
    assert valid.sum() == min(k, len(values))


ANN = ["HNSW", "AUTOINDEX", "IVF_FLAT", "IVF_SQ8", "IVF_PQ"]


def make(index_type, metric, dim, params=None):
    cls = DENSE_INDEXES[index_type]
    return cls(metric, cls.validate(params or {}, dim), dim)


@pytest.mark.parametrize("index_type", ANN)
@pytest.mark.parametrize("metric", ["L2", "IP", "COSINE"])
def test_ann_recall_at_defaults(index_type, metric):
    x = clustered(4000, 32, centres=40, seed=6)
    q = clustered(30, 32, centres=40, seed=7)
    if metric == "IP":   # graph search for maximum inner product wants comparable norms
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
    idx = make(index_type, metric, 32)
    idx.build(x)
    assert idx.ntotal == len(x)
    rows, _ = idx.search(q, x, SearchRequest(10, pk_of=PK))
    truth = reference_topk(reference_dist(q, x, metric), 10, metric)
    assert recall(rows, truth) >= 0.95


@pytest.mark.parametrize("index_type", ["HNSW", "IVF_FLAT"])
def test_ann_filtered_recall(index_type):
    x = clustered(4000, 32, centres=40, seed=8)
    q = clustered(20, 32, centres=40, seed=9)
    allowed = np.random.default_rng(1).random(len(x)) < 0.1
    idx = make(index_type, "L2", 32)
    idx.build(x)
    rows, _ = idx.search(q, x, SearchRequest(10, allowed=allowed, pk_of=PK))
    assert allowed[rows[rows >= 0]].all()
    truth = reference_topk(reference_dist(q, x, "L2"), 10, "L2", allowed)
    assert recall(rows, truth) >= 0.95


def test_ann_add_and_save_load_roundtrip(tmp_path):
    x = clustered(3000, 16, seed=10)
    q = clustered(5, 16, seed=11)
    for itype in ["FLAT"] + ANN:
        idx = make(itype, "COSINE", 16)
        idx.build(x[:2000])
        idx.add(x[2000:])
        assert idx.ntotal == 3000
        r1, k1 = idx.search(q, x, SearchRequest(10, pk_of=PK))
        idx.save(tmp_path, f"i_{itype}")
        back = make(itype, "COSINE", 16)
        if getattr(back, "loads_from_columns", False):   # HNSW: the file holds the graph only
            back.load(tmp_path, f"i_{itype}", 3000, vectors=x)
        else:
            back.load(tmp_path, f"i_{itype}", 3000)
        r2, k2 = back.search(q, x, SearchRequest(10, pk_of=PK))
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_allclose(k1, k2)


def test_index_param_validation():
    with pytest.raises(ParamError, match="M"):
        DENSE_INDEXES["HNSW"].validate({"M": 1}, 8)
    with pytest.raises(ParamError, match="nlist"):
        DENSE_INDEXES["IVF_FLAT"].validate({"nlist": 0}, 8)
    with pytest.raises(ParamError, match="m must divide"):
        DENSE_INDEXES["IVF_PQ"].validate({"m": 5}, 16)
    with pytest.raises(ParamError, match="valid"):
        get_metric("COS")


def reference_binary(q, x, metric):
    qb = np.unpackbits(q, axis=1).astype(bool)
    xb = np.unpackbits(x, axis=1).astype(bool)
    inter = (qb[:, None, :] & xb[None, :, :]).sum(-1)
    if metric == "HAMMING":
        return (qb[:, None, :] ^ xb[None, :, :]).sum(-1).astype(float)
    union = (qb[:, None, :] | xb[None, :, :]).sum(-1)
    return np.where(union > 0, 1 - inter / np.maximum(union, 1), 0.0)


@pytest.mark.parametrize("metric", ["HAMMING", "JACCARD"])
def test_binary_flat_exact(metric):
    rng = np.random.default_rng(12)
    x = rng.integers(0, 256, (1500, 8), dtype=np.uint8)
    q = rng.integers(0, 256, (6, 8), dtype=np.uint8)
    idx = BinFlatIndex(metric, {}, 64)
    idx.add(x)
    allowed = rng.random(len(x)) < 0.5
    rows, keys = idx.search(q, x, SearchRequest(10, allowed=allowed, pk_of=PK))
    ref = reference_binary(q, x, metric)
    for i, t in enumerate(reference_topk(ref, 10, metric, allowed)):
        np.testing.assert_array_equal(rows[i], t)
        np.testing.assert_allclose(keys[i], ref[i, t], atol=1e-6)


@pytest.mark.parametrize("metric", ["HAMMING", "JACCARD"])
def test_binary_ivf_recall(metric):
    rng = np.random.default_rng(13)
    centres = rng.integers(0, 2, (30, 128)).astype(np.uint8)
    pick = rng.integers(0, 30, 3000)
    flips = rng.random((3000, 128)) < 0.05
    x = np.packbits(centres[pick] ^ flips, axis=1)
    q = np.packbits(centres[rng.integers(0, 30, 20)] ^ (rng.random((20, 128)) < 0.05), axis=1)
    idx = BinIVFIndex(metric, BinIVFIndex.validate({"nlist": 32}, 128), 128)
    idx.build(x)
    rows, _ = idx.search(q, x, SearchRequest(10, params={"nprobe": 8}, pk_of=PK))
    ref = reference_binary(q, x, metric)
    # recall against the k-th best distance (many ties in binary data)
    kth = np.sort(ref, axis=1)[:, 9]
    hits = [(ref[i, r[r >= 0]] <= kth[i]).mean() for i, r in enumerate(rows)]
    assert np.mean(hits) >= 0.95


def test_sparse_matches_dense_reference():
    x = sp.random(2000, 500, density=0.01, format="csr", dtype=np.float32, random_state=3)
    q = sp.random(8, 600, density=0.02, format="csr", dtype=np.float32, random_state=4)
    allowed = np.random.default_rng(2).random(2000) < 0.7
    idx = SparseInvertedIndex("IP", {}, 0)
    idx.add(x[:1500])
    idx.add(x[1500:])
    rows, keys = idx.search(q, None, SearchRequest(20, allowed=allowed, pk_of=PK))
    dense = q[:, :500].toarray() @ x.toarray().T
    overlap = (q[:, :500].toarray() != 0).astype(int) @ (x.toarray() != 0).T.astype(int) > 0
    for i in range(q.shape[0]):
        cand = np.flatnonzero(overlap[i] & allowed)
        order = cand[np.lexsort((cand, -dense[i, cand]))][:20]
        got = rows[i][rows[i] >= 0]
        np.testing.assert_array_equal(got, order)
        np.testing.assert_allclose(-keys[i][: len(got)], dense[i, order], rtol=1e-5)


def test_drop_ratio_drops_smallest_per_row():
    m = sp.random(30, 50, density=0.3, format="csr", dtype=np.float32, random_state=5)
    out = drop_smallest(m, 0.4)
    for i in range(30):
        row = m[[i]].toarray()[0]
        nz = np.flatnonzero(row)
        keep = nz[np.argsort(np.abs(row[nz]), kind="stable")][int(np.floor(0.4 * len(nz))):]
        assert set(np.flatnonzero(out[[i]].toarray()[0])) == set(keep)


def test_sparse_ip_search_ignores_rows_without_overlap():
    x = sp.csr_array(np.array([[1, 0, 0], [0, 2, 0], [0, 0, 0]], dtype=np.float32))
    q = sp.csr_array(np.array([[0, 1, 0]], dtype=np.float32))
    rows, keys = sparse_ip_search(sp.csc_array(x), q, 3, pk_of=PK)
    assert rows[0].tolist() == [1, -1, -1]
