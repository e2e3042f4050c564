"""String filters without NUL characters: this checkout beside another (the commit before).

    .venv/bin/python bench/speed_string_filters.py --before /tmp/wt/src   # 200k rows
    .venv/bin/python bench/speed_string_filters.py --n 1000000 --before /tmp/wt/src

The exact paths for NUL characters (expr/strings.py) must not slow the common case: this times
VARCHAR and JSON-string filters (compiled once, evaluated on the collection's column source),
an ORDER BY over a VARCHAR field and a primary-key index build, on strings without any NUL.
One database is built first; then each round runs every source once, each in a fresh child
process, alternating and swapping which goes first (so load on the shared machine hits both
alike). A cell is the best
time of a source over all its rounds (each round: best of 5 calls); ratio = this / before.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FILTERS = [
    ("s == lit", "s == {x}", {"x": "w00123"}),
    ("s < lit", "s < {x}", {"x": "w05"}),
    ("s in [3]", "s in {xs}", {"xs": ["w00001", "w00777", "w01234"]}),
    ("s in [20]", "s in {xs}", {"xs": [f"w{i:05d}" for i in range(0, 2000, 100)]}),
    ("s like 'w012%'", "s like {p}", {"p": "w012%"}),
    ("s like '%77'", "s like {p}", {"p": "%77"}),
    ("s like 'w0_2_3'", "s like {p}", {"p": "w0_2_3"}),
    ("s like 'w0_2%'", "s like {p}", {"p": "w0_2%"}),
    ("s like '%12%'", "s like {p}", {"p": "%12%"}),
    ("s > t", "s > t", {}),
    ("id == lit (VARCHAR pk)", "id == {x}", {"x": "key-0000123"}),
    ('j["k"] == lit', 'j["k"] == {x}', {"x": "w00123"}),
    ('j["k"] like \'%77\'', 'j["k"] like {p}', {"p": "%77"}),
]


def build(path: str, n: int) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    import numpy as np

    from embedb import DataType, MilvusClient

    rng = np.random.default_rng(0)
    c = MilvusClient(path)
    s = c.create_schema(enable_dynamic_field=False)
    s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=32)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("s", DataType.VARCHAR, max_length=32)
    s.add_field("t", DataType.VARCHAR, max_length=32)
    s.add_field("j", DataType.JSON)
    ix = c.prepare_index_params()
    ix.add_index("v", index_type="FLAT", metric_type="L2")
    c.create_collection("c", schema=s, index_params=ix)
    words = [f"w{i:05d}" + "x" * (i % 7) for i in range(20000)]
    pick = rng.integers(0, len(words), (n, 3))
    step = 50000
    for lo in range(0, n, step):
        c.insert("c", [{"id": f"key-{i:07d}", "v": [float(i), 0.0], "s": words[pick[i, 0]],
                        "t": words[pick[i, 1]], "j": {"k": words[pick[i, 2]]}}
                       for i in range(lo, min(n, lo + step))])
    c.close()


def child(src: str, path: str) -> None:
    sys.path.insert(0, src)
    from embedb import MilvusClient
    from embedb.engine.pkindex import PKIndex
    from embedb.expr import compile_filter

    c = MilvusClient(path)
    c.load_collection("c")
    coll = c._loaded_collection("c")
    out = {}

    def best(fn, repeat=5):
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    for name, text, params in FILTERS:
        cf = compile_filter(text, coll.schema)
        cf.evaluate(coll.source, params)   # first call: column loads (and the NUL scan) once
        out[name] = best(lambda: cf.evaluate(coll.source, params))
    out["query order_by s (limit 100)"] = best(
        lambda: c.query("c", filter="", output_fields=["id"], order_by_fields=["s"], limit=100), 3)
    pk = coll._columns["id"].values
    live = ~coll._deleted.view
    out["PKIndex.build (VARCHAR pk)"] = best(lambda: PKIndex.build(pk, live), 3)
    c.close()
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", default=os.environ.get("EMBEDB_BEFORE", ""),
                    help="src/ of the checkout to compare with (a git worktree of the commit before)")
    args = ap.parse_args()
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return
    sources = {"this": str(ROOT / "src")}
    if args.before:
        sources["before"] = args.before
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "strings.db")
        t0 = time.perf_counter()
        build(path, args.n)
        print(f"built {args.n} rows in {time.perf_counter() - t0:.1f} s", flush=True)
        results: dict[str, dict[str, float]] = {k: {} for k in sources}
        for r in range(args.rounds):
            order = list(sources.items())
            for label, src in (order if r % 2 == 0 else order[::-1]):   # neither always first
                run = subprocess.run([sys.executable, __file__, "--child", src, path],
                                     check=True, capture_output=True, text=True)
                for name, sec in json.loads(run.stdout.strip().splitlines()[-1]).items():
                    results[label][name] = min(sec, results[label].get(name, float("inf")))
    names = list(results["this"])
    print(f"\n{args.n} rows, no NUL anywhere; best of {args.rounds} interleaved rounds x 5 calls")
    head = f"{'operation':32s} {'this ms':>9s}" + (f" {'before ms':>10s} {'ratio':>6s}" if args.before else "")
    print(head)
    for name in names:
        this = results["this"][name] * 1e3
        line = f"{name:32s} {this:9.2f}"
        if args.before:
            before = results["before"][name] * 1e3
            line += f" {before:10.2f} {this / before:6.2f}"
        print(line)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
