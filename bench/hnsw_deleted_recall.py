"""Recall of an HNSW collection most of whose rows are deleted (tombstoned, not compacted).

    .venv/bin/python bench/hnsw_deleted_recall.py              # 20k and 50k rows, a few minutes
    .venv/bin/python bench/hnsw_deleted_recall.py --n 20000    # one size

Tombstones act as a filter on the graph: a search admits the live rows only. This builds an
HNSW index (M=16, efConstruction=200, COSINE and L2) through ``MilvusClient`` on clustered
Gaussian data, deletes 50 / 70 / 90 % of the rows (``random``: each row independently;
``clusters``: whole clusters, the queries drawn near deleted and live clusters alike), and
searches with the default ef (single queries, the client's fast path, and one batch) against
the exact answer over the live rows. Per case it prints the plan embedb's index manager takes
for the tombstone mask (``exact`` or the graph at ``ef``), the mask's clumping, and recall@10:
mean, minimum and the share of queries under 0.9.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

K = 10


def clustered(rng, n, nq, dim, per=500, noise=0.35):
    centres = rng.standard_normal((max(n // per, 8), dim)).astype(np.float32)
    cid = rng.integers(0, len(centres), n)
    x = (centres[cid] + noise * rng.standard_normal((n, dim))).astype(np.float32)
    qcid = rng.integers(0, len(centres), nq)
    q = (centres[qcid] + noise * rng.standard_normal((nq, dim))).astype(np.float32)
    return x, q, cid


def exact_top(x, q, live, metric, k):
    ids = np.flatnonzero(live)
    xs = x[ids]
    if metric == "COSINE":
        xs = xs / np.linalg.norm(xs, axis=1, keepdims=True)
        qq = q / np.linalg.norm(q, axis=1, keepdims=True)
        score = -(qq @ xs.T)
    else:
        score = ((xs * xs).sum(1)[None, :] - 2 * q @ xs.T)
    top = np.argsort(score, axis=1, kind="stable")[:, :k]
    return ids[top]


def plan_of(client, name):
    """(plan, clumping) embedb's index manager takes for the collection's tombstone mask."""
    from embedb.engine.filter_cache import survivors
    from embedb.engine.index.filtered import use_exact
    from embedb.engine.index.manager import indexes_of

    coll = client._collection(name)
    manager = indexes_of(coll)
    entry = manager.entry(manager.names()[0]) if hasattr(manager, "names") else \
        next(iter(manager._entries.values()))
    view = coll.read_view()
    info = survivors(view.mask(""))
    impl = entry.impl
    with entry.lock:
        exact = use_exact(info.count, view.num_rows_total, impl.dim, impl, K, {}, info)
        ef = None if exact else impl.filtered_plan(info, view.num_rows_total, K, {})
        clump = impl._clumping(info)
    return ("exact" if exact else f"graph ef={ef}"), clump


def build(root, x, metric, m):
    """A closed database with the HNSW graph over every row (saved at the flush)."""
    from embedb import DataType, MilvusClient

    c = MilvusClient(str(root / "base.db"), durability="process")
    s = c.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=x.shape[1])
    ix = c.prepare_index_params()
    ix.add_index("v", index_type="HNSW", metric_type=metric,
                 params={"M": m, "efConstruction": 200})
    c.create_collection("c", schema=s, index_params=ix)
    n = len(x)
    for lo in range(0, n, 5000):
        c.insert("c", [{"id": i, "v": x[i]} for i in range(lo, min(n, lo + 5000))])
    t0 = time.perf_counter()
    c.search("c", [x[0]], limit=K)   # the graph built over every row: no tail
    c.flush("c")
    c.close()
    return time.perf_counter() - t0


def dead_rows(rng, x, cid, frac, how):
    n = len(x)
    if how == "random":
        return np.flatnonzero(rng.random(n) < frac)
    if how == "clusters":   # whole clusters, in a random order, until frac of the rows are gone
        order = rng.permutation(cid.max() + 1)
        sizes = np.bincount(cid, minlength=len(order))
        cut = min(np.searchsorted(np.cumsum(sizes[order]), frac * n) + 1, len(order) - 1)
        return np.flatnonzero(np.isin(cid, order[:cut]))
    # "range~s": the frac of rows lowest along a random direction read through noise of s
    # standard deviations (old rows of a drifting stream: deletes partly follow position)
    noise = float(how.split("~")[1])
    proj = x @ rng.standard_normal(x.shape[1]).astype(np.float32)
    proj = proj / proj.std() + noise * rng.standard_normal(n)
    return np.flatnonzero(proj < np.quantile(proj, frac))


def run_case(root, x, q, cid, metric, frac, how, seed, limits):
    from embedb import MilvusClient

    rng = np.random.default_rng(seed)
    case = root / f"case-{seed}"
    shutil.copytree(root / "base.db", case)
    n = len(x)
    c = MilvusClient(str(case), durability="process")
    c.load_collection("c")
    dead = dead_rows(rng, x, cid, frac, how)
    for lo in range(0, len(dead), 5000):
        c.delete("c", ids=dead[lo:lo + 5000].tolist())
    live = np.ones(n, bool)
    live[dead] = False
    plan, clump = plan_of(c, "c")
    out = {"live": 1 - len(dead) / n, "plan": plan, "clumping": clump}
    for k in limits:
        want = exact_top(x, q, live, metric, k)
        single = [[h["id"] for h in c.search("c", [q[i]], limit=k)[0]] for i in range(len(q))]
        batch = [[h["id"] for h in hits] for hits in c.search("c", q, limit=k)]
        out[k] = (np.array([len(set(single[i]) & set(want[i].tolist())) / k for i in range(len(q))]),
                  np.array([len(set(batch[i]) & set(want[i].tolist())) / k for i in range(len(q))]))
    c.close()
    shutil.rmtree(case)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[20000, 50000])
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--nq", type=int, default=200)
    ap.add_argument("--metrics", nargs="+", default=["COSINE", "L2"])
    ap.add_argument("--how", nargs="+", default=["random", "clusters", "range~1"])
    ap.add_argument("--fracs", type=float, nargs="+", default=[0.5, 0.7, 0.9])
    ap.add_argument("--limits", type=int, nargs="+", default=[10, 100])
    args = ap.parse_args()
    print("| n | dim | M | metric | deletes | live | plan (k=10) | clumping | k | recall single "
          "mean / min / share < 0.9 | recall batch mean / min |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.n:
        rng = np.random.default_rng(n)
        x, q, cid = clustered(rng, n, args.nq, args.dim)
        for metric in args.metrics:
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                took = build(root, x, metric, args.M)
                print(f"<!-- {n} x {args.dim} {metric} M={args.M}: graph built in {took:.1f} s -->",
                      flush=True)
                for how in args.how:
                    for frac in args.fracs:
                        r = run_case(root, x, q, cid, metric, frac, how,
                                     seed=n + int(frac * 100), limits=args.limits)
                        for k in args.limits:
                            s, b = r[k]
                            print(f"| {n} | {args.dim} | {args.M} | {metric} | {how} {frac:.0%} "
                                  f"| {r['live']:.3f} | {r['plan']} | {r['clumping']:.3f} | {k} "
                                  f"| {s.mean():.3f} / {s.min():.2f} / {(s < 0.9).mean():.3f} "
                                  f"| {b.mean():.3f} / {b.min():.2f} |", flush=True)


if __name__ == "__main__":
    main()
