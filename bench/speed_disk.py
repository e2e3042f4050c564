"""Disk and memory (issue 15): embedb beside Chroma, and beside the raw vectors + graph.

    .venv/bin/python bench/speed_disk.py              # 50,000 x 384, about 2 minutes
    .venv/bin/python bench/speed_disk.py --n 100000   # the issue's size

One clustered data set, the same HNSW (COSINE unless ``--metric``, M=16, efConstruction=200)
in both systems:

* **disk**: the bytes of every file under each database directory once it is written and closed
  (embedb: ``MilvusClient`` insert in 10,000-row calls, the index built, ``close``; Chroma:
  ``PersistentClient`` ``add`` in 5,000-row calls, then the process exits). "raw vectors +
  graph" is ``n * dim * 4`` bytes plus embedb's saved graph file (``ext/*.hnsw``, the HNSW links
  only): the floor for any store that keeps float32 vectors and an HNSW graph.
* **RSS**: resident memory (``VmRSS``, with its anonymous and file-backed parts) of a fresh
  process after importing the library (the floor), after opening the database, and after the
  first search; embedb and Chroma processes alternate, ``--reps`` of each, medians printed.
  File-backed pages are the page cache's: shared between processes and given back under memory
  pressure (embedb's vectors are a memory map of the column file).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, os.environ.get("EMBEDB_SRC") or str(ROOT / "src"))
sys.path.insert(1, str(ROOT / "bench"))

MIB = 1 << 20
SPACES = {"COSINE": "cosine", "L2": "l2", "IP": "ip"}   # Chroma's (hnswlib's) names

_RSS = """
def rss():
    out = dict()
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) * 1024
    return out
"""

_EMBEDB = _RSS + """
import json, sys
sys.path.insert(0, {src!r})
import numpy as np
import embedb
q = np.load({queries!r})
steps = {{"imported": rss()}}
client = embedb.MilvusClient({path!r})
client.load_collection("c")
steps["opened"] = rss()
hits = client.search("c", [q[0]], limit=10)
assert len(hits[0]) == 10
steps["first search"] = rss()
for v in q[1:]:
    client.search("c", [v], limit=10)
steps["100 searches"] = rss()
print(json.dumps(steps))
"""

_CHROMA = _RSS + """
import json
import numpy as np
import chromadb
q = np.load({queries!r})
steps = {{"imported": rss()}}
client = chromadb.PersistentClient(path={path!r})
coll = client.get_collection("docs")
steps["opened"] = rss()
res = coll.query(query_embeddings=[q[0]], n_results=10)
assert len(res["ids"][0]) == 10
steps["first search"] = rss()
for v in q[1:]:
    coll.query(query_embeddings=[v], n_results=10)
steps["100 searches"] = rss()
print(json.dumps(steps))
"""

_CHROMA_BUILD = """
import numpy as np
import chromadb
x = np.load({data!r})
client = chromadb.PersistentClient(path={path!r})
coll = client.create_collection("docs", metadata={{"hnsw:space": {space!r}, "hnsw:M": 16,
                                               "hnsw:construction_ef": 200}})
for s in range(0, len(x), 5000):
    part = x[s:s + 5000]
    coll.add(ids=[str(s + i) for i in range(len(part))], embeddings=part)
assert coll.count() == len(x)
"""


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_json(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the databases (their path is printed)")
    ap.add_argument("--metric", choices=["COSINE", "L2", "IP"], default="COSINE",
                    help="COSINE searches a normalised copy in memory; L2/IP the mapped column")
    ap.add_argument("--json", default=None, help="also write the key numbers to this file")
    args = ap.parse_args()

    from bench_speed import clustered, hnsw_database, write_json

    dim = 384
    x = clustered(args.n, dim)
    tmp = Path(tempfile.mkdtemp(prefix="speed-disk-"))
    try:
        data, queries = tmp / "x.npy", tmp / "q.npy"
        np.save(data, x)
        np.save(queries, clustered(100, dim, seed=1))
        edb, chroma = tmp / "embedb.db", tmp / "chroma"
        t0 = time.perf_counter()
        hnsw_database(edb, x, args.metric)
        t_edb = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", _CHROMA_BUILD.format(data=str(data), path=str(chroma), space=SPACES[args.metric])],
                       check=True)
        t_chroma = time.perf_counter() - t0

        raw = x.nbytes
        graph = sum(p.stat().st_size for p in edb.rglob("*.hnsw"))
        floor = raw + graph
        disk = {"embedb": tree_bytes(edb), "Chroma": tree_bytes(chroma)}
        print(f"disk: {args.n:,} x {dim} float32, HNSW {args.metric} M=16 efC=200 "
              f"(written in {t_edb:.0f} s by embedb, {t_chroma:.0f} s by Chroma)")
        print(f"{'':24s} {'MiB':>8s} {'/ raw+graph':>12s} {'/ Chroma':>9s}")
        print(f"{'raw vectors':24s} {raw / MIB:8.1f}")
        print(f"{'embedb graph (.hnsw)':24s} {graph / MIB:8.1f}")
        print(f"{'raw vectors + graph':24s} {floor / MIB:8.1f} {1.0:11.2f}x")
        for name, size in disk.items():
            print(f"{name:24s} {size / MIB:8.1f} {size / floor:11.2f}x {size / disk['Chroma']:8.2f}x")

        src = os.environ.get("EMBEDB_SRC") or str(ROOT / "src")
        scripts = {"embedb": _EMBEDB.format(src=src, path=str(edb), queries=str(queries)),
                   "Chroma": _CHROMA.format(path=str(chroma), queries=str(queries))}
        runs: dict[str, list[dict]] = {name: [] for name in scripts}
        for _ in range(args.reps):   # fresh processes, alternating
            for name, code in scripts.items():
                runs[name].append(run_json(code))
        steps = list(runs["embedb"][0])
        rss_mib: dict = {}   # --json: step -> system -> median VmRSS
        print(f"\nRSS of a fresh process, MiB (median of {args.reps}; anonymous + file-backed)")
        print(f"{'':16s}" + "".join(f"{name:>26s}" for name in scripts) + f"{'embedb / Chroma':>17s}")
        for step in steps:
            cells, vm = [], {}
            for name in scripts:
                med = {k: float(np.median([r[step][k] for r in runs[name]])) for k in runs[name][0][step]}
                vm[name] = med["VmRSS"]
                rss_mib.setdefault(step, {})[name] = med["VmRSS"] / MIB
                cells.append(f"{med['VmRSS'] / MIB:8.1f} ({med['RssAnon'] / MIB:6.1f} + "
                             f"{med['RssFile'] / MIB:6.1f})")
            print(f"{step:16s}" + "".join(f"{c:>26s}" for c in cells) +
                  f"{vm['embedb'] / vm['Chroma']:16.2f}x")
        write_json(args.json, {"disk_mib": {**{k: v / MIB for k, v in disk.items()},
                                            "raw vectors + graph": floor / MIB},
                               "rss_mib": rss_mib})
        if args.keep:
            print(f"\nkept: {tmp}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
