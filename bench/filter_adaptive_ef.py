"""Would a data-adaptive ef pay for filtered HNSW search? (issue 15, 10-50 % filters)

    .venv/bin/python bench/filter_adaptive_ef.py                  # clustered 50k x 384, ~2 min
    .venv/bin/python bench/filter_adaptive_ef.py --set clustered128 --margins 0.01,0.03

embedb widens a filtered graph search by a fixed rule (``filtered.filtered_ef``: the same ef
for every data set at a given selectivity, fitted to the worst of several sets). The idea
measured here: estimate, per cached filter mask, the smallest ef whose recall@10 reaches
0.95 + margin on *probe queries* made of stored rows outside the filter (their exact
filtered answers are cheap to compute; they are not answers of themselves), and search at
that ef instead. It pays only if the estimate holds on queries the probes did not see.

For each selectivity (a filter independent of the vectors: each row admitted with
probability s) it prints: the rule's ef and its recall on held-out queries; for each margin
the probe-estimated ef (bisection on a grid of step 4 up to the rule's ef, so it never
searches wider) and its held-out recall; the ef held-out queries really need (step 4); the
p50 of single-query faiss searches at the rule's and the estimated ef (interleaved); and
what the estimate costs per new mask (exact answers of the probes + the graph searches).

Graph: faiss ``IndexHNSWFlat`` M=16 efConstruction=200 (embedb's), COSINE, one OpenMP thread.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(1, str(ROOT / "bench"))

K = 10


def data(name: str, n: int, nq: int, rng):
    from filter_recall_sweep import clustered, uniform

    if name == "clustered384":
        x, q, _, _ = clustered(rng, n, nq, 384)
    elif name == "clustered128":
        x, q, _, _ = clustered(rng, n, nq, 128, per=200, noise=0.5)
    else:
        x, q, _, _ = uniform(rng, n, nq, 128)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    return np.ascontiguousarray(x), np.ascontiguousarray(q[:nq])


def truth(x, qs, rows):
    s = qs @ x[rows].T
    part = np.argpartition(-s, K, axis=1)[:, :K]
    return [set(rows[p].tolist()) for p in part]


def recall(graph, qs, sel, tr, ef):
    import faiss

    _, found = graph.search(qs, K, params=faiss.SearchParametersHNSW(efSearch=ef, sel=sel))
    return float(np.mean([len(t & set(f.tolist())) / K for f, t in zip(found, tr)]))


def p50_single(graph, qs, sel, efs, reps):
    """p50 (us) of one-query ``search_c`` calls per ef, the efs alternating pass by pass."""
    import faiss

    dist, rows = np.empty((1, K), np.float32), np.empty((1, K), np.int64)
    dp, rp = faiss.swig_ptr(dist), faiss.swig_ptr(rows)
    ptrs = [faiss.swig_ptr(v) for v in qs]
    params = {ef: faiss.SearchParametersHNSW(efSearch=ef, sel=sel) for ef in efs}
    times = {ef: [] for ef in efs}
    for rep in range(reps):
        for ef in (efs if rep % 2 else efs[::-1]):
            out, p = times[ef], params[ef]
            for ptr in ptrs:
                t0 = time.perf_counter_ns()
                graph.search_c(1, ptr, K, dp, rp, p)
                out.append(time.perf_counter_ns() - t0)
    return {ef: float(np.percentile(t, 50)) / 1e3 for ef, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", default="clustered384",
                    choices=["clustered384", "clustered128", "uniform128"])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--held-out", type=int, default=1000)
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--margins", default="0.01,0.03")
    ap.add_argument("--sel", default="0.1,0.3,0.5")
    ap.add_argument("--reps", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import faiss

    from embedb.engine.index.filtered import filtered_ef

    rng = np.random.default_rng(args.seed)
    x, q = data(args.set, args.n, args.held_out, rng)
    t0 = time.perf_counter()
    graph = faiss.IndexHNSWFlat(x.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = 200
    graph.add(x)
    faiss.omp_set_num_threads(1)
    margins = [float(m) for m in args.margins.split(",")]
    print(f"{args.set}: {args.n:,} x {x.shape[1]} COSINE, HNSW M=16 efC=200 (built in "
          f"{time.perf_counter() - t0:.1f} s), top {K}, user ef 16, {args.probes} probes "
          f"(stored rows outside the filter), {len(q)} held-out queries")
    print(f"{'sel':>4} {'ef':>8} {'held-out recall':>15} {'p50 us':>7}  note")
    for s in (float(v) for v in args.sel.split(",")):
        allowed = rng.random(args.n) < s
        rows = np.flatnonzero(allowed)
        bits = np.packbits(allowed, bitorder="little")
        sel = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
        rule = filtered_ef(16, K, s)
        held = truth(x, q, rows)
        need = next((ef for ef in range(12, 513, 4) if recall(graph, q, sel, held, ef) >= 0.95),
                    None)
        t0 = time.perf_counter()
        outside = np.flatnonzero(~allowed)
        probes = np.ascontiguousarray(x[np.sort(rng.choice(outside, args.probes, replace=False))])
        probe_truth = truth(x, probes, rows)
        t_truth = time.perf_counter() - t0
        grid = list(range(16, rule, 4)) + [rule]
        estimates = {}
        for margin in margins:
            t0 = time.perf_counter()
            lo, hi = 0, len(grid) - 1
            while lo < hi:   # recall grows with ef: the first grid ef reaching the target
                mid = (lo + hi) // 2
                if recall(graph, probes, sel, probe_truth, grid[mid]) >= 0.95 + margin:
                    hi = mid
                else:
                    lo = mid + 1
            estimates[margin] = (grid[lo], time.perf_counter() - t0)
        efs = sorted({rule, *(e for e, _ in estimates.values())})
        p50 = p50_single(graph, q[:300], sel, efs, args.reps)
        print(f"{s:4.2f} {rule:8d} {recall(graph, q, sel, held, rule):15.3f} {p50[rule]:7.1f}  "
              f"the rule (filtered_ef); held-out queries need ef {need}")
        for margin, (ef, took) in estimates.items():
            r = recall(graph, q, sel, held, ef)
            flag = "  <-- below 0.95" if r < 0.95 else ""
            print(f"{'':4} {ef:8d} {r:15.3f} {p50[ef]:7.1f}  probes >= {0.95 + margin:.2f}: "
                  f"{p50[ef] / p50[rule]:.2f}x the rule's time, estimate "
                  f"{(t_truth + took) * 1e3:.0f} ms per mask{flag}")


if __name__ == "__main__":
    main()
