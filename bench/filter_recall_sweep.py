"""How wide a filtered HNSW search must be (issue 15): recall@k of faiss's graph search with a
bitmap selector, on several data sets, metrics and filters, against the exact answer.

    .venv/bin/python bench/filter_recall_sweep.py            # a few minutes
    .venv/bin/python bench/filter_recall_sweep.py --quick    # smaller sets

For each (data set, metric, filter, selectivity, k, user ef) it prints the mask's clumping,
the smallest ef (steps of 4) that reaches mean recall >= 0.95, and what embedb's plan does
with the mask (``embedb_plan``, as ``HNSWIndex.filtered_plan``: the graph at its ef, or exact
search) with the recall it gets.

Graphs: faiss ``IndexHNSWFlat`` M=16 efConstruction=200, as embedb builds them. Filters:

* ``random``: each row admitted with probability s (a tag column independent of the vectors);
* ``clusters+``: the rows of whole clusters (a fraction s of them), queries near those clusters
  (a filter correlated with the query);
* ``clusters-``: the same rows, queries near the other clusters (anti-correlated);
* ``range``: the s fraction of rows furthest along a random direction (a field correlated with
  position), random queries; ``range~1`` / ``range~3``: the same read through noise of 1 / 3
  standard deviations (partly correlated).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

GRID = tuple(range(8, 257, 4)) + (320, 384, 512, 768, 1024, 1536, 2048, 4096)


def clustered(rng, n, nq, dim, per=500, noise=0.35):
    centres = rng.standard_normal((max(n // per, 8), dim)).astype(np.float32)
    cid = rng.integers(0, len(centres), n)
    x = (centres[cid] + noise * rng.standard_normal((n, dim))).astype(np.float32)
    qcid = rng.integers(0, len(centres), 4 * nq)
    q = (centres[qcid] + noise * rng.standard_normal((4 * nq, dim))).astype(np.float32)
    return x, q, cid, qcid


def uniform(rng, n, nq, dim):
    x = rng.uniform(-1, 1, (n, dim)).astype(np.float32)
    q = rng.uniform(-1, 1, (4 * nq, dim)).astype(np.float32)
    return x, q, None, None


def prepared(x, metric):
    if metric == "COSINE":
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x)


def build_graph(x, metric):
    import faiss

    index = faiss.IndexHNSWFlat(x.shape[1], 16,
                                faiss.METRIC_L2 if metric == "L2" else faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 200
    index.add(x)
    return index


def truth_of(xp, qp, allowed, metric, k):
    rows = np.flatnonzero(allowed)
    sub = xp[rows]
    if metric == "L2":
        keys = (sub * sub).sum(1)[None, :] - 2 * qp @ sub.T
    else:
        keys = -(qp @ sub.T)
    part = np.argpartition(keys, min(k, len(rows) - 1), axis=1)[:, :k]
    return [set(rows[p].tolist()) for p in part]


def recall_at(graph, qp, allowed_bits, truth, k, ef):
    import faiss

    sel = faiss.IDSelectorBitmap(len(allowed_bits), faiss.swig_ptr(allowed_bits))
    p = faiss.SearchParametersHNSW(efSearch=ef, sel=sel)
    _, found = graph.search(qp, k, params=p)
    return float(np.mean([len(t & set(f.tolist())) / k for f, t in zip(found, truth)]))


def first_ef(graph, qp, bits, truth, k, target=0.95):
    """The smallest grid ef reaching ``target`` (bisection over the grid: recall grows with ef)."""
    lo, hi = 0, len(GRID) - 1
    if recall_at(graph, qp, bits, truth, k, GRID[hi]) < target:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if recall_at(graph, qp, bits, truth, k, max(GRID[mid], k)) >= target:
            hi = mid
        else:
            lo = mid + 1
    return max(GRID[lo], k)


def embedb_plan(graph, allowed, count, ef, k, metric):
    """(ef of embedb's graph search or None for exact, the mask's clumping): the decision
    ``HNSWIndex.filtered_plan`` makes, on this graph."""
    import faiss

    from embedb.engine.index import filtered

    total, dim = len(allowed), graph.d
    hnsw = graph.hnsw
    neighbors = faiss.rev_swig_ptr(hnsw.neighbors.data(), hnsw.neighbors.size())
    offsets = faiss.rev_swig_ptr(hnsw.offsets.data(), hnsw.offsets.size())
    clump = filtered.clumping(neighbors, offsets, hnsw.nb_neighbors(0), allowed,
                              np.flatnonzero(allowed), total)
    if filtered.use_exact(count, total, dim):
        return None, clump
    return filtered.graph_ef(count, total, dim, max(ef, k), k, clump, metric), clump


def filters(rng, x, cid, q, qcid, s, nq):
    """(name, allowed mask, query rows) for selectivity ``s``."""
    n = len(x)
    out = [("random", rng.random(n) < s, np.arange(nq))]
    if cid is not None:
        nc = int(cid.max()) + 1
        chosen = rng.permutation(nc)[:max(1, round(s * nc))]
        allowed = np.isin(cid, chosen)
        inside = np.flatnonzero(np.isin(qcid, chosen))[:nq]
        outside = np.flatnonzero(~np.isin(qcid, chosen))[:nq]
        if len(inside) >= 20:
            out.append(("clusters+", allowed, inside))
        out.append(("clusters-", allowed, outside))
    u = rng.standard_normal(x.shape[1]).astype(np.float32)
    proj = x @ u
    out.append(("range", proj >= np.quantile(proj, 1 - s), np.arange(nq)))
    # the same range read through noise: a filter only partly correlated with the vectors
    for noise in (1.0, 3.0):
        noisy = proj / proj.std() + noise * rng.standard_normal(n)
        out.append((f"range~{noise:g}", noisy >= np.quantile(noisy, 1 - s), np.arange(nq)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--sets", default="clustered384,clustered128,uniform128")
    ap.add_argument("--metrics", default="COSINE,L2,IP")
    ap.add_argument("--sel", default="0.04,0.07,0.1,0.2,0.3,0.5")
    ap.add_argument("--ks", default="10,100")
    ap.add_argument("--efs", default="16,64,128")
    args = ap.parse_args()

    rng = np.random.default_rng(7)
    nq = args.queries
    scale = 4 if args.quick else 1
    sets = {
        "clustered384": lambda: clustered(rng, 50_000 // scale, nq, 384),
        "clustered128": lambda: clustered(rng, 80_000 // scale, nq, 128, per=200, noise=0.5),
        "uniform128": lambda: uniform(rng, 50_000 // scale, nq, 128),
    }
    sels = [float(s) for s in args.sel.split(",")]
    ks = [int(k) for k in args.ks.split(",")]
    efs = [int(e) for e in args.efs.split(",")]
    print(f"{'set':13s} {'metric':6s} {'filter':10s} {'sel':>5s} {'clump':>5s} {'k':>4s} "
          f"{'ef':>4s} {'need':>5s} {'ours':>6s} {'recall':>7s}")
    worst = 1.0
    for set_name in args.sets.split(","):
        x, q, cid, qcid = sets[set_name]()
        for metric in args.metrics.split(","):
            xp, qall = prepared(x, metric), prepared(q, metric)
            t0 = time.perf_counter()
            graph = build_graph(xp, metric)
            print(f"# {set_name} {metric}: {len(x):,} x {x.shape[1]} built in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            for s in sels:
                for fname, allowed, qrows in filters(rng, x, cid, q, qcid, s, nq):
                    qp = np.ascontiguousarray(qall[qrows])
                    bits = np.packbits(allowed, bitorder="little")
                    count = int(allowed.sum())
                    for k in ks:
                        truth = truth_of(xp, qp, allowed, metric, k)
                        need = first_ef(graph, qp, bits, truth, k)
                        for ef in efs:
                            plan, clump = embedb_plan(graph, allowed, count, ef, k, metric)
                            if plan is None:
                                r, shown = 1.0, "exact"
                            else:
                                r, shown = recall_at(graph, qp, bits, truth, k, plan), str(plan)
                            worst = min(worst, r)
                            flag = "  <-- below 0.95" if r < 0.95 else ""
                            print(f"{set_name:13s} {metric:6s} {fname:10s} {s:5.2f} "
                                  f"{clump:5.2f} {k:4d} {ef:4d} {need if need else '>4096':>5} "
                                  f"{shown:>6s} {r:7.3f}{flag}", flush=True)
    print(f"worst recall: {worst:.3f}")


if __name__ == "__main__":
    main()
