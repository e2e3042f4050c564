"""fulltext._select_by_key: a query's best candidates by (score descending, primary key
ascending), against a brute-force sort, for the few-candidate path (Python's sort) and the
many-candidate path (topk.select), with many equal scores and int, str and NUL-holding keys."""

from __future__ import annotations

import numpy as np
import pytest

from embedb.engine import fulltext


def reference(cand, scores32, limit, pks):
    order = sorted(range(len(cand)), key=lambda i: (-float(scores32[i]), pks[cand[i]]))[:limit]
    return [int(cand[i]) for i in order], [float(scores32[i]) for i in order]


@pytest.mark.parametrize("keys", ["int", "str", "nul"])
@pytest.mark.parametrize("many", [False, True])
def test_select_by_key_matches_a_plain_sort(keys, many):
    rng = np.random.default_rng(7)
    for _ in range(300):
        m = int(rng.integers(fulltext._FEW + 1, 3 * fulltext._FEW)) if many else \
            int(rng.integers(1, fulltext._FEW + 1))
        limit = int(rng.integers(1, 20))
        cand = rng.permutation(400)[:m].astype(np.int64)
        scores32 = (rng.integers(0, 5, m) / 7).astype(np.float32)   # many equal scores
        ints = rng.permutation(10_000)[:400]
        pks = {"int": ints.tolist(), "str": [f"k{i:05d}" for i in ints],
               "nul": [f"k\x00{i}" for i in ints]}[keys]

        def pk_of(rows):
            from embedb.engine.search import exact_keys
            return exact_keys([pks[r] for r in np.asarray(rows).tolist()])

        rows, keys_out = fulltext._select_by_key(cand, scores32, limit, pk_of)
        want_rows, want_scores = reference(cand, scores32, limit, pks)
        assert rows.dtype == np.int64 and rows.tolist() == want_rows
        assert (-keys_out).tolist() == want_scores
