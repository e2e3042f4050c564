"""Migrate throughput: `embedb migrate` from a local embedb database to Milvus servers and back,
beside the reference a user would otherwise write (read every row with query_iterator and
insert it into the server with plain pymilvus, no resume, no verification).

    python bench/bench_migrate.py                    # 20k rows x 768-d
    python bench/bench_migrate.py --n 100000 --dim 768 --batch 2000

Targets: the C++ Milvus server of milvus-lite 2.5.1 (make test installs it beside the venv),
Milvus Lite 3's gRPC server, `embedb serve`, and a second local path. Each run is its own
subprocess, so its peak RSS (printed) is its own: with bounded memory the peak does not grow
with --n, only with --batch. Rows/s counts the copy only (indexes and verification reported
separately). A table is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CHILD = textwrap.dedent("""
    import json, resource, sys, time
    args = json.loads(sys.argv[1])
    from embedb.migrate import migrate
    from embedb.migrate import servers

    def start(kind, workdir):
        if kind == "milvus-2.5":
            s = servers.start_lite2(workdir + "/m25.db"); return s.uri, s.stop
        if kind == "milvus-lite-3":
            s = servers.start_lite3(workdir + "/l3.db"); return s.uri, s.stop
        if kind == "embedb-serve":
            from embedb.server import serve_in_thread
            uri = serve_in_thread(workdir + "/served.db"); return str(uri), uri.stop
        return workdir + "/copy.db", (lambda: None)

    uri, stop = start(args["target"], args["workdir"])
    times = {}
    try:
        if args["mode"] == "reference":
            from pymilvus import MilvusClient as PM
            from embedb import MilvusClient
            src, dst = MilvusClient(args["source"]), PM(uri)
            dst.create_collection("bench", dimension=args["dim"], metric_type="L2")
            t = time.perf_counter()
            it = src.query_iterator("bench", batch_size=args["batch"], output_fields=["*"])
            while batch := it.next():
                dst.insert("bench", list(batch))
            times["copy"] = time.perf_counter() - t
            rows = args["n"]
        else:
            t = time.perf_counter()
            report = migrate(args["source"], uri, batch_size=args["batch"], verify=args["verify"],
                             state_file=args["workdir"] + "/state.json")
            times["total"] = time.perf_counter() - t
            phases = report.collections[0]["seconds"]
            times["copy"] = phases["rows"]
            times["indexes"] = phases["indexes"]
            times["verify"] = phases.get("verify", 0.0)
            rows = report.rows
            assert report.ok, report.collections
    finally:
        stop()
    print(json.dumps({"rows": rows, **times,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def build_source(path: str, n: int, dim: int) -> None:
    import numpy as np

    from embedb import DataType, MilvusClient

    rng = np.random.default_rng(0)
    with MilvusClient(path) as client:
        schema = client.create_schema(enable_dynamic_field=True)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("title", DataType.VARCHAR, max_length=64)
        schema.add_field("score", DataType.DOUBLE)
        index = client.prepare_index_params()
        index.add_index("vector", index_type="AUTOINDEX", metric_type="L2")
        client.create_collection("bench", schema=schema, index_params=index)
        for start in range(0, n, 10_000):
            m = min(10_000, n - start)
            vecs = rng.standard_normal((m, dim)).astype(np.float32)
            client.insert("bench", [{"id": start + i, "vector": vecs[i], "title": f"doc {start + i}",
                                     "score": float(i)} for i in range(m)])


def run(args: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True,
                          text=True, timeout=3600)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--targets", default="milvus-2.5,milvus-lite-3,embedb-serve,local")
    parser.add_argument("--no-reference", action="store_true")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = str(Path(tmp) / "source.db")
        print(f"building the source: {opts.n} rows x {opts.dim}-d ...", file=sys.stderr)
        build_source(source, opts.n, opts.dim)
        results = []
        for target in opts.targets.split(","):
            modes = ["migrate+verify"] + ([] if opts.no_reference or target == "local"
                                          else ["reference"])
            for mode in modes:
                workdir = tempfile.mkdtemp(dir=tmp)
                print(f"{target} / {mode} ...", file=sys.stderr)
                out = run({"source": source, "target": target, "workdir": workdir, "n": opts.n,
                           "dim": opts.dim, "batch": opts.batch, "mode": mode.split("+")[0],
                           "verify": mode.endswith("verify")})
                results.append((target, mode, out))
    print(f"\nmigrate throughput, {opts.n} rows x {opts.dim}-d float32 + 2 scalars, batch {opts.batch}")
    print(f"{'target':<15} {'method':<16} {'copy rows/s':>12} {'index s':>8} {'verify s':>9} "
          f"{'total s':>8} {'peak RSS MB':>12}")
    for target, mode, out in results:
        if "error" in out:
            print(f"{target:<15} {mode:<16} error: {out['error'][:80]}")
            continue
        rate = out["rows"] / out["copy"] if out.get("copy") else float("nan")
        total = out.get("total", out["copy"])
        label = "pymilvus loop" if mode == "reference" else mode
        print(f"{target:<15} {label:<16} {rate:>12,.0f} {out.get('indexes', 0):>8.1f} "
              f"{out.get('verify', 0):>9.1f} {total:>8.1f} {out['peak_rss_mb']:>12,.0f}")


if __name__ == "__main__":
    main()
