"""TIMESTAMPTZ and GEOMETRY costs beside their references (datetime, shapely).

    python bench/bench_types.py [--rows 100000]

Prints insert time, filter times (cold = first filter parses the column, warm = cached) and
the same work done directly with shapely / datetime, so the overhead of the filter path shows.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime

import numpy as np


def _timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    n = parser.parse_args().rows

    import shapely

    from embedb import DataType, MilvusClient
    from embedb.timestamptz import format_micros, parse_iso

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (n, 2))
    wkts = [f"POINT ({x:.4f} {y:.4f})" for x, y in xy]
    stamps = [f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00+08:00" for i in range(n)]

    client = MilvusClient(":memory:")
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    schema.add_field("geo", DataType.GEOMETRY)
    schema.add_field("tsz", DataType.TIMESTAMPTZ)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_collection("b", schema=schema, index_params=index)
    rows = [{"id": i, "v": [0.0, 0.0], "geo": wkts[i], "tsz": stamps[i]} for i in range(n)]
    t = time.perf_counter()
    client.insert("b", rows)
    print(f"insert {n:,} rows with GEOMETRY + TIMESTAMPTZ: {time.perf_counter() - t:.2f} s")

    box = "POLYGON ((10 10, 30 10, 30 30, 10 30, 10 10))"
    t = time.perf_counter()
    count = client.query("b", f"st_within(geo, '{box}')", output_fields=["count(*)"])
    cold = time.perf_counter() - t
    warm = _timed(lambda: client.query("b", f"st_within(geo, '{box}')", output_fields=["count(*)"]))
    geoms = shapely.from_wkt(np.array(wkts, dtype=object))
    query = shapely.from_wkt(box)
    parse = _timed(lambda: shapely.from_wkt(np.array(wkts, dtype=object)), 1)
    direct = _timed(lambda: shapely.within(geoms, query))
    print(f"st_within, {count[0]['count(*)']:,} hits: embedb cold {cold * 1e3:.0f} ms, warm {warm * 1e3:.1f} ms | "
          f"shapely.from_wkt {parse * 1e3:.0f} ms + shapely.within {direct * 1e3:.1f} ms")
    dwithin = _timed(lambda: client.query("b", "st_dwithin(geo, 'POINT (50 50)', 500000)",
                                          output_fields=["count(*)"]))
    print(f"st_dwithin (500 km): embedb warm {dwithin * 1e3:.1f} ms")

    tsz = _timed(lambda: client.query("b", "tsz + INTERVAL 'P1D' > ISO '2025-06-01T00:00:00Z'",
                                      output_fields=["count(*)"]))
    print(f"TIMESTAMPTZ filter with INTERVAL over {n:,} rows: {tsz * 1e3:.1f} ms")
    ours = _timed(lambda: [parse_iso(s) for s in stamps], 1)
    ref = _timed(lambda: [datetime.fromisoformat(s).timestamp() for s in stamps], 1)
    print(f"parse {n:,} ISO strings: embedb {ours:.2f} s | datetime.fromisoformat {ref:.2f} s")
    micros = np.array([parse_iso(s) for s in stamps], dtype=np.int64)
    ours = _timed(lambda: format_micros(micros, "Asia/Shanghai"), 1)
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Shanghai")
    ref = _timed(lambda: [datetime.fromtimestamp(m / 1e6, zone).isoformat() for m in micros.tolist()], 1)
    print(f"format {n:,} values in Asia/Shanghai: embedb {ours:.2f} s | datetime.isoformat {ref:.2f} s")


if __name__ == "__main__":
    main()
