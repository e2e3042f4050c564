"""Cost of the input checks and the linear filters (issue "Trust"), before and after.

Runs against the embedb source in this repository, or another one named by ``EMBEDB_SRC`` (for
example an export of an older commit: ``git archive <commit> src | tar -x -C /tmp/old`` then
``EMBEDB_SRC=/tmp/old/src``), so the two can be printed side by side:

* insert throughput of rows with a JSON field and dynamic fields (validation, canonical copies,
  log encoding) into an in-memory and an on-disk database;
* query throughput returning those values (copies handed out);
* LIKE / regex filters on 200k strings, and one 19 kB row with ``%the%the%the%zzz`` (the old
  backtracking matcher is stopped after ``--timeout`` seconds).

    .venv/bin/python bench/bench_trust.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

SRC = os.environ.get("EMBEDB_SRC") or str(Path(__file__).resolve().parents[1] / "src")
sys.path.insert(0, SRC)

import numpy as np  # noqa: E402

from embedb import MilvusClient  # noqa: E402


def rows(n, start=0):
    rng = np.random.default_rng(start)
    vecs = rng.random((n, 8), dtype=np.float32)
    return [{"id": start + i, "vector": vecs[i], "meta": {"n": i, "tags": ["a", "b", str(i % 7)],
                                                          "geo": {"lat": 1.5, "lon": -2.25}},
             "color": ("red", "green", "blue")[i % 3], "score": float(i % 100) / 7}
            for i in range(n)]


def best(fn, reps=3):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_insert(n, path):
    data = rows(n)
    batches = [data[i:i + 1000] for i in range(0, n, 1000)]

    def run():
        c = MilvusClient(path() if callable(path) else path)
        c.create_collection("t", dimension=8)
        for b in batches:
            c.insert("t", b)
        c.close()

    return n / best(run, reps=2)


def bench_query(n):
    c = MilvusClient(":memory:")
    c.create_collection("t", dimension=8)
    for i in range(0, n, 5000):
        c.insert("t", rows(min(5000, n - i), i))
    k = min(n, 10_000)
    rate = k / best(lambda: c.query("t", filter=f"id < {k}", output_fields=["meta", "color"]))
    c.close()
    return rate


def _filter_worker(flt, texts, out):
    sys.path.insert(0, SRC)
    from embedb import MilvusClient as Client

    c = Client(":memory:")
    c.create_collection("t", dimension=2)
    for i in range(0, len(texts), 10_000):
        c.insert("t", [{"id": i + j, "vector": [0.0, 1.0], "txt": t}
                       for j, t in enumerate(texts[i:i + 10_000])])
    c.query("t", filter="id >= 0", output_fields=["count(*)"])  # builds the parser once
    t = time.perf_counter()
    c.query("t", filter=flt, output_fields=["count(*)"])
    out.put(time.perf_counter() - t)


def time_filter(flt, texts, timeout):
    """Seconds of one query (in a child process), or None when it ran past ``timeout``."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    p = ctx.Process(target=_filter_worker, args=(flt, texts, out))
    p.start()
    p.join(timeout + 60)  # + the time to build the collection
    if p.is_alive():
        p.kill()
        p.join()
        return None
    return out.get() if not out.empty() else None


def _like_matcher():
    try:
        from embedb.expr.like import compile_like
    except ImportError:  # before the linear matcher
        from embedb.expr.ops import compile_like
    return compile_like


def _regex_matcher():
    try:
        from embedb.expr.regex import search_mask
        return search_mask
    except ImportError:  # before RE2: Python's re, row by row
        import re

        return lambda pattern, values: np.fromiter(
            (re.compile(pattern).search(s) is not None for s in values), bool, len(values))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    print(f"embedb source: {SRC}")
    print(f"insert, in memory : {bench_insert(args.rows, ':memory:'):>10,.0f} rows/s")
    with tempfile.TemporaryDirectory() as d:
        paths = iter(range(100))
        rate = bench_insert(args.rows, lambda: f"{d}/b{next(paths)}.db")
        print(f"insert, on disk   : {rate:>10,.0f} rows/s")
    print(f"query (JSON out)  : {bench_query(args.rows):>10,.0f} rows/s")
    words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog"]
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, 12)) for _ in range(200_000)]
    column = np.array(texts, dtype=np.dtypes.StringDType())
    like = _like_matcher()
    for pattern in ["the%", "%dog", "%fox%", "%fox%lazy%", "%o_e%d_g%", "the%dog"]:
        matcher = like(pattern)
        s = best(lambda: matcher(column), reps=5)
        print(f"LIKE {pattern!r:16s} matcher, 200k rows: {s * 1000:8.1f} ms")
    regex = _regex_matcher()
    values = column.tolist()
    s = best(lambda: regex("fox.*dog$", values), reps=3)
    print(f"=~ 'fox.*dog$'        matcher, 200k rows: {s * 1000:8.1f} ms")
    long_text = [("the quick brown fox jumps over the lazy dog; " * 450)[:19_000]]
    for flt in ['txt like "%the%the%the%zzz"', 'txt =~ "(the.*)*zzz"']:
        s = time_filter(flt, long_text, args.timeout)
        print(f"{flt:28s} one 19 kB row: "
              + (f"> {args.timeout:.0f} s (stopped)" if s is None else f"{s * 1000:8.1f} ms"))


if __name__ == "__main__":
    main()
