"""Regression check: the same MilvusClient CRUD + search workload on an old release and on the
current tree, interleaved in one run so machine load hits both sides alike.

    git worktree add /tmp/old_regress 7325202          # the old release, once
    python bench/bench_regress.py --n 100000 --rounds 3
    python bench/bench_regress.py --old-src /tmp/old_regress/src --new-src src --n 50000

Each side runs in its own subprocess with PYTHONPATH set to its ``src`` folder. A setup process
per side builds N rows (128-d float32 vector, HNSW index, category INT64 0..9, score DOUBLE in
[0, 1), title VARCHAR) in 1,000-row batches and closes. Then ``--rounds`` rounds alternate the
two sides (old first in odd rounds, new first in even ones); each round opens the database in a
fresh process and times: open + first query, get 1 id / 100 ids, query at 1% and 10%
selectivity, count(*), insert of 1,000-row batches, delete of those ids, single-query HNSW
search (p50) and a 100-query batch search. The table shows the median over rounds of each
round's median, and new/old (above 1 = the current tree is slower). Insert and delete wait for
an fsync each (synchronous=FULL), so on a shared disk they vary by +-30% between runs; the
build row is one sample per side. Use more --rounds before believing a ratio near 1.2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DIM = 128
BATCH = 1000
NAME = "bench"


def _rows(start: int, m: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    vecs = rng.random((m, DIM), dtype=np.float32)
    cats = rng.integers(0, 10, m)
    scores = rng.random(m)
    return [{"id": start + i, "vector": vecs[i], "category": int(cats[i]), "score": float(scores[i]),
             "title": f"document number {start + i}"} for i in range(m)]


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def setup(path: str, n: int) -> dict:
    from embedb import DataType, MilvusClient

    client = MilvusClient(path)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("category", DataType.INT64)
    schema.add_field("score", DataType.DOUBLE)
    schema.add_field("title", DataType.VARCHAR, max_length=128)
    index = MilvusClient.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="L2", params={"M": 16, "efConstruction": 64})
    client.create_collection(NAME, schema=schema, index_params=index)
    t = time.perf_counter()
    for start in range(0, n, BATCH):
        client.insert(NAME, _rows(start, min(BATCH, n - start), seed=start))
    build = time.perf_counter() - t
    client.flush(NAME)
    client.close()
    return {"build_s": build}


def measure(path: str, n: int, round_no: int, repeat: int) -> dict:
    import numpy as np

    from embedb import MilvusClient

    rng = np.random.default_rng(round_no)
    out: dict[str, float] = {}
    t = time.perf_counter()
    client = MilvusClient(path)
    client.load_collection(NAME)
    client.query(NAME, filter="category == 1", output_fields=["title"], limit=10)
    out["open + first query"] = (time.perf_counter() - t) * 1000

    one = [int(i) for i in rng.integers(0, n, repeat * 5)]
    it = iter(one)
    out["get 1 id"] = _median_ms(lambda: client.get(NAME, ids=[next(it)]), repeat * 5)
    hundred = rng.choice(n, 100, replace=False).tolist()
    out["get 100 ids"] = _median_ms(lambda: client.get(NAME, ids=hundred), repeat)
    out["query 1% (score < 0.01)"] = _median_ms(
        lambda: client.query(NAME, filter="score < 0.01", output_fields=["id", "score", "title"]), repeat)
    out["query 10% (category == 3)"] = _median_ms(
        lambda: client.query(NAME, filter="category == 3", output_fields=["id", "score", "title"]),
        max(3, repeat // 2))
    out["count(*)"] = _median_ms(lambda: client.query(NAME, filter="", output_fields=["count(*)"]), repeat)

    # Insert 1,000-row batches with fresh ids past N, then delete them again (size stays ~N).
    base = n + 1_000_000 * (round_no + 1)
    batches = [_rows(base + k * BATCH, BATCH, seed=base + k) for k in range(3)]
    bi = iter(batches)
    out["insert 1000 rows"] = _median_ms(lambda: client.insert(NAME, next(bi)), len(batches))
    di = iter([[r["id"] for r in b] for b in batches])
    out["delete 1000 ids"] = _median_ms(lambda: client.delete(NAME, ids=next(di)), len(batches))

    queries = rng.random((repeat * 5 + 100, DIM), dtype=np.float32)
    qi = iter(queries[: repeat * 5])
    params = {"metric_type": "L2", "params": {"ef": 64}}
    out["search 1 query p50"] = _median_ms(
        lambda: client.search(NAME, data=[next(qi)], limit=10, search_params=params), repeat * 5)
    out["search batch 100"] = _median_ms(
        lambda: client.search(NAME, data=queries[-100:], limit=10, search_params=params), max(3, repeat // 3))
    client.close()
    return out


def _worker(args) -> None:
    if args.worker == "setup":
        res = setup(args.path, args.n)
    else:
        res = measure(args.path, args.n, args.round, args.repeat)
    print("RESULT " + json.dumps(res))


def _spawn(src: str, mode: str, path: str, n: int, round_no: int, repeat: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()))
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", mode, "--path", path, "--n", str(n),
           "--round", str(round_no), "--repeat", str(repeat)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if proc.returncode:
        sys.exit(f"{mode} with {src} failed:\n{proc.stderr[-3000:]}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old-src", default="/tmp/old_regress/src")
    ap.add_argument("--new-src", default=str(Path(__file__).resolve().parent.parent / "src"))
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=10, help="repetitions of each op inside a round")
    ap.add_argument("--worker", choices=["setup", "measure"], help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args)
        return

    sides = {"old": args.old_src, "new": args.new_src}
    tmp = Path(tempfile.mkdtemp(prefix="bench_regress_"))
    results: dict[str, list[dict]] = {"old": [], "new": []}
    t0 = time.perf_counter()
    try:
        paths = {side: str(tmp / f"{side}.db") for side in sides}
        for side, src in sides.items():
            build = _spawn(src, "setup", paths[side], args.n, 0, args.repeat)
            results[side].append({f"build {args.n} rows (s)": build["build_s"]})
        for r in range(args.rounds):
            order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
            for side in order:
                results[side].append(_spawn(sides[side], "measure", paths[side], args.n, r, args.repeat))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    build_key = f"build {args.n} rows (s)"   # one build per side, not interleaved: noisiest row
    print(f"\nN={args.n}, dim={DIM}, {args.rounds} interleaved rounds, {time.perf_counter() - t0:.0f} s total")
    print(f"old: {args.old_src}\nnew: {args.new_src}")
    print(f"{'operation':<28}{'old ms':>10}{'new ms':>10}{'new/old':>9}")
    print(f"{build_key:<28}{results['old'][0][build_key]:>10.1f}{results['new'][0][build_key]:>10.1f}"
          f"{results['new'][0][build_key] / results['old'][0][build_key]:>9.2f}")
    for op in results["old"][1]:
        old = statistics.median(r[op] for r in results["old"][1:])
        new = statistics.median(r[op] for r in results["new"][1:])
        print(f"{op:<28}{old:>10.3f}{new:>10.3f}{new / old:>9.2f}")


if __name__ == "__main__":
    main()
