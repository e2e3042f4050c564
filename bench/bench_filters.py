"""Filter evaluation time: embedb.expr vs Milvus Lite 3.x's filter evaluator vs a per-row loop.

All three evaluate the same filters on the same in-memory columns (embedb: NumPy columns;
Milvus Lite: the PyArrow table its segments hold, JSON as strings; the loop: Python lists).
Each cell is the best of ``--repeat`` runs of one evaluation (compile time excluded: both
libraries cache compiled filters), in milliseconds. Every engine's mask is checked against the
loop's. Run:  .venv/bin/python bench/bench_filters.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from embedb.expr import ArrayColumnSource, Column, compile_filter
from embedb.schema import CollectionSchema, DataType, FieldSchema

S = np.dtypes.StringDType()
IDS = list(range(0, 1_000_000, 997))  # ~1000 ids
TAGS = [1, 5, 7, 20, 30, 40, 50]

# (label, filter text, per-row Python predicate over (id, tag, score, name, j))
FILTERS = [
    ("tag < 10", "tag < 10", lambda i, t, s, n, j: t < 10),
    ("tag in [7 ints]", f"tag in {TAGS}", lambda i, t, s, n, j, w=set(TAGS): t in w),
    ("id in [~1000 ids]", f"id in {IDS}", lambda i, t, s, n, j, w=set(IDS): i in w),
    ('name like "ab%"', 'name like "ab%"', lambda i, t, s, n, j: n.startswith("ab")),
    ('name like "%ab%"', 'name like "%ab%"', lambda i, t, s, n, j: "ab" in n),
    ("range and/or", "(10 <= tag < 20 and score > 0.5) or tag == 99",
     lambda i, t, s, n, j: (10 <= t < 20 and s > 0.5) or t == 99),
    ("arithmetic", "tag * 2 + score > 150", lambda i, t, s, n, j: t * 2 + s > 150),
    ('j["a"] < 10', 'j["a"] < 10', lambda i, t, s, n, j: j["a"] < 10),
]


def make_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    tag = rng.integers(0, 100, n)
    score = rng.random(n)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    names = ["".join(x) for x in letters[rng.integers(0, 26, (n, 6))].tolist()]
    docs = [{"a": int(t), "s": "x"} for t in tag.tolist()]
    return np.arange(n, dtype=np.int64), tag, score, names, docs


def best_ms(fn, repeat: int) -> tuple[float, np.ndarray]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000, out


def embedb_runner(data):
    ids, tag, score, names, docs = data
    n = len(ids)
    schema = CollectionSchema([
        FieldSchema("id", DataType.INT64, is_primary=True),
        FieldSchema("tag", DataType.INT64),
        FieldSchema("score", DataType.DOUBLE),
        FieldSchema("name", DataType.VARCHAR, max_length=16),
        FieldSchema("j", DataType.JSON),
    ])
    j = np.empty(n, dtype=object)
    j[:] = docs
    source = ArrayColumnSource(schema, {
        "id": ids, "tag": tag, "score": score, "name": np.array(names, dtype=S),
        "j": Column(j),
    }, n)

    def run(text):
        cf = compile_filter(text, schema)
        return lambda: cf.evaluate(source)

    return run


def milvus_lite_runner(data):
    try:
        import pyarrow as pa
        from milvus_lite.schema.types import CollectionSchema as MLSchema
        from milvus_lite.schema.types import DataType as MLType
        from milvus_lite.schema.types import FieldSchema as MLField
        from milvus_lite.search.filter import compile_filter as ml_compile
        from milvus_lite.search.filter import evaluate_mask
    except ImportError:
        return None
    ids, tag, score, names, docs = data
    schema = MLSchema(fields=[
        MLField("id", MLType.INT64, is_primary=True),
        MLField("tag", MLType.INT64),
        MLField("score", MLType.DOUBLE),
        MLField("name", MLType.VARCHAR, max_length=16),
        MLField("j", MLType.JSON),
    ])
    table = pa.table({
        "id": pa.array(ids), "tag": pa.array(tag), "score": pa.array(score),
        "name": pa.array(names, pa.string()),
        "j": pa.array([json.dumps(d) for d in docs], pa.string()),
    })

    def run(text):
        try:
            compiled = ml_compile(text, schema)
        except Exception as e:  # not in its grammar
            return type(e).__name__
        return lambda: evaluate_mask(compiled, table)

    return run


def loop_runner(data):
    ids, tag, score, names, docs = data
    rows = list(zip(ids.tolist(), tag.tolist(), score.tolist(), names, docs))

    def run(pred):
        return lambda: np.fromiter((pred(*r) for r in rows), dtype=bool, count=len(rows))

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"{'rows':>9} | {'filter':<20} | {'embedb ms':>10} | {'milvus-lite ms':>14} | "
          f"{'python loop ms':>14} | {'loop/embedb':>11} | {'lite/embedb':>11}")
    print("-" * 105)
    for n in args.sizes:
        data = make_data(n)
        emb, lite, loop = embedb_runner(data), milvus_lite_runner(data), loop_runner(data)
        for label, text, pred in FILTERS:
            loop_ms, expected = best_ms(loop(pred), 1)
            emb_ms, got = best_ms(emb(text), args.repeat)
            if not np.array_equal(got, expected):
                raise SystemExit(f"embedb disagrees with the loop on {text!r}")
            lite_cell, ratio = "n/a", ""
            if lite is not None:
                fn = lite(text)
                if callable(fn):
                    lite_ms, lite_mask = best_ms(fn, args.repeat)
                    ok = np.array_equal(np.asarray(lite_mask, dtype=bool), expected)
                    lite_cell = f"{lite_ms:.2f}" + ("" if ok else " (differs)")
                    ratio = f"{lite_ms / emb_ms:.1f}x"
                else:
                    lite_cell = fn[:14]
            print(f"{n:>9} | {label:<20} | {emb_ms:>10.2f} | {lite_cell:>14} | "
                  f"{loop_ms:>14.1f} | {loop_ms / emb_ms:>10.0f}x | {ratio:>11}")


if __name__ == "__main__":
    main()
