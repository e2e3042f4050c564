"""RRF and weighted fusion against a plain dict-based reference; rankers' argument checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedb.engine import fusion
from embedb.errors import ParamError
from embedb.rankers import AnnSearchRequest, RRFRanker, WeightedRanker


def random_lists(rng, nq, n_lists, k, n_rows):
    out = []
    for _ in range(n_lists):
        rows = np.full((nq, k), -1, dtype=np.int64)
        dist = np.zeros((nq, k))
        for q in range(nq):
            m = rng.integers(0, k + 1)
            rows[q, :m] = rng.choice(n_rows, m, replace=False)
            dist[q, :m] = np.sort(rng.random(m))[::-1]
        out.append((rows, dist))
    return out


def reference(lists, score_fn, k):
    nq = lists[0][0].shape[0]
    out = []
    for q in range(nq):
        s: dict = {}
        for li, (rows, dist) in enumerate(lists):
            rank = 0
            for r, d in zip(rows[q], dist[q]):
                if r < 0:
                    continue
                rank += 1
                s[int(r)] = s.get(int(r), 0.0) + score_fn(li, rank, float(d))
        out.append(sorted(s.items(), key=lambda kv: (-kv[1], kv[0]))[:k])
    return out


def check(got, ref):
    rows, scores = got
    for q, expected in enumerate(ref):
        valid = rows[q] >= 0
        assert rows[q][valid].tolist() == [r for r, _ in expected]
        np.testing.assert_allclose(scores[q][valid], [s for _, s in expected], rtol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 4), st.integers(1, 3), st.integers(1, 12))
def test_rrf_matches_reference(seed, nq, n_lists, k):
    rng = np.random.default_rng(seed)
    lists = random_lists(rng, nq, n_lists, 8, 30)
    pk = lambda r: np.asarray(r)  # noqa: E731
    check(fusion.rrf(lists, k, 60.0, pk_of=pk), reference(lists, lambda li, rank, d: 1 / (60 + rank), k))


@pytest.mark.parametrize("metrics", [("COSINE", "IP"), ("L2", "BM25"), ("IP", "HAMMING")])
@pytest.mark.parametrize("norm", [True, False])
def test_weighted_matches_reference(metrics, norm):
    rng = np.random.default_rng(3)
    lists = random_lists(rng, 3, 2, 10, 25)
    weights = [0.3, 0.8]

    def f(metric, d):
        if metric in ("L2", "HAMMING"):
            return 1 - 2 * math.atan(d) / math.pi
        if not norm:
            return d
        return {"COSINE": (1 + d) / 2, "IP": 0.5 + math.atan(d) / math.pi,
                "BM25": 2 * math.atan(d) / math.pi}[metric]

    ref = reference(lists, lambda li, rank, d: weights[li] * f(metrics[li], d), 7)
    check(fusion.weighted(lists, list(metrics), weights, 7, norm, pk_of=lambda r: np.asarray(r)), ref)


def test_weighted_needs_one_weight_per_request():
    lists = random_lists(np.random.default_rng(0), 1, 2, 3, 5)
    with pytest.raises(ParamError, match="one weight per"):
        fusion.weighted(lists, ["IP", "IP"], [1.0], 3)


def test_ranker_and_request_arguments():
    assert RRFRanker().dict() == {"strategy": "rrf", "params": {"k": 60}}
    assert WeightedRanker(0.2, 0.8, norm_score=False).dict()["params"] == {
        "weights": [0.2, 0.8], "norm_score": False}
    with pytest.raises(ParamError):
        RRFRanker(0)
    with pytest.raises(ParamError):
        WeightedRanker(1.5)
    with pytest.raises(ParamError):
        WeightedRanker()
    req = AnnSearchRequest([[0.1]], "v", {"metric_type": "IP"}, 5, filter="a > 1")
    assert req.expr == "a > 1" and req.limit == 5
    with pytest.raises(ParamError):
        AnnSearchRequest([[0.1]], "", {}, 5)
