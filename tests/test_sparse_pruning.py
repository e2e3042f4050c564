"""SPARSE_WAND (and DAAT inverted_index_algo) prune, with exactly the inverted index's results.

Random sparse corpora with skewed dimensions, duplicated rows (equal scores: ties by primary
key), a few negative values and masks; the exhaustive gather of SPARSE_INVERTED_INDEX is the
reference for rows and keys, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from embedb.engine.index import sparse_prune
from embedb.engine.index.base import SearchRequest
from embedb.engine.index.sparse import SparseInvertedIndex, SparseWandIndex


def random_sparse(rng, n, dim, negative):
    rows = []
    for _ in range(n):
        nnz = int(rng.integers(1, 12))
        cols = np.unique((rng.pareto(1.2, nnz) * 3).astype(np.int64) % dim)
        vals = rng.random(len(cols)).astype(np.float32) + 0.01
        if negative:
            vals[rng.random(len(cols)) < 0.15] *= -1
        rows.append((cols, vals))
    dup = rng.choice(n, n // 5, replace=False)   # identical rows: tied scores
    for i, j in zip(dup, rng.choice(n, n // 5)):
        rows[i] = rows[j]
    indptr = np.concatenate([[0], np.cumsum([len(c) for c, _ in rows])])
    return sp.csr_array((np.concatenate([v for _, v in rows]), np.concatenate([c for c, _ in rows]), indptr),
                        shape=(n, dim))


@pytest.fixture
def count_pruned(monkeypatch):
    monkeypatch.setattr(sparse_prune, "FIRST_DEPTH", 1)
    calls = {"pruned": 0, "all": 0}
    candidates = sparse_prune._candidates

    def counting(*args):
        out = candidates(*args)
        calls["all"] += 1
        calls["pruned"] += out is not None
        return out

    monkeypatch.setattr(sparse_prune, "_candidates", counting)
    return calls


@pytest.mark.parametrize("seed,negative", [(0, False), (1, False), (2, True), (3, True)])
def test_wand_equals_the_exhaustive_inverted_index(seed, negative, count_pruned):
    rng = np.random.default_rng(seed)
    n, dim = 3000, 400
    x = random_sparse(rng, n, dim, negative)
    pks = rng.permutation(n) * 3
    pk_of = lambda rows: pks[np.asarray(rows)]  # noqa: E731
    ref, wand = SparseInvertedIndex("IP", {}, dim), SparseWandIndex("IP", {}, dim)
    daat = SparseInvertedIndex("IP", {"inverted_index_algo": "DAAT_MAXSCORE"}, dim)
    for index in (ref, wand, daat):
        index.add(x[:2000])
        index.add(x[2000:])   # two adds: columns renumbered, impact lists rebuilt
    queries = random_sparse(rng, 40, dim, negative)
    for k in (1, 5, 20):
        for allowed in (None, rng.random(n) < 0.5):
            req = SearchRequest(k=k, allowed=allowed, pk_of=pk_of)
            want = ref.search(queries, None, req)
            for index in (wand, daat):
                got = index.search(queries, None, req)
                np.testing.assert_array_equal(got[0], want[0])
                np.testing.assert_array_equal(got[1], want[1])
    assert count_pruned["pruned"] > count_pruned["all"] // 4   # pruning answered many queries
