"""Checking a copy: row counts per partition, a sample of rows field by field, and sampled
searches whose top-10 ids must agree on both sides: identical (ties aside), or, where an
approximate index on one side missed a neighbour, every id either side returned must score
the same on both (checked exactly, by searches restricted to those ids)."""

from __future__ import annotations

import math
from typing import Any

from ..schema import DataType
from .plan import CollectionPlan, count_rows

SEARCH_TYPES = (DataType.FLOAT_VECTOR, DataType.BINARY_VECTOR, DataType.SPARSE_FLOAT_VECTOR)
TOP_K = 10


def same(a: Any, b: Any) -> bool:
    """Equal values, floats to float32 precision (a value may cross a server as float32)."""
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-7)
        except (TypeError, ValueError):
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def _close(x: float, y: float) -> bool:
    return math.isclose(x, y, rel_tol=1e-4, abs_tol=1e-5)


def _filter_for(pk: str, keys: list) -> str:
    import json

    return f"{pk} in [{', '.join(json.dumps(k) if isinstance(k, str) else str(int(k)) for k in keys)}]"


def _thorough(client: Any, name: str, field: str) -> dict:
    """Search parameters that make an approximate index search nearly exhaustively, so the two
    sides' answers differ only where their data does (graph: a wide ef; IVF: every list)."""
    info = {}
    for ix in client.list_indexes(name):
        d = client.describe_index(name, ix)
        if d.get("field_name") == field:
            info = d
    kind = str(info.get("index_type", "")).upper()
    if kind.startswith("IVF") or kind.startswith("BIN_IVF"):
        return {"params": {"nprobe": int(info.get("nlist", 128))}}
    if kind in ("HNSW", "AUTOINDEX", "HNSW_SQ", "HNSW_PQ", "HNSW_PRQ"):
        return {"params": {"ef": 512}}
    return {}


def verify_collection(src: Any, dst: Any, plan: CollectionPlan, sample_keys: list,
                      sample_size: int = 100, searches: int = 10) -> dict:
    """Compare source and destination; returns a report with ``ok`` and the problems found."""
    name, pk, computed = plan.name, plan.pk, plan.computed_fields
    problems: list[str] = []
    parts = [] if plan.partition_key else plan.partitions
    src_counts = count_rows(src, name, pk, parts)
    dst_counts = count_rows(dst, name, pk, parts)
    for part, n in src_counts.items():
        if dst_counts.get(part) != n:
            where = "" if part == "*" else f" in partition {part!r}"
            problems.append(f"{n} rows{where} in the source, {dst_counts.get(part)} in the destination")

    keys = list(sample_keys)[:sample_size]
    if not keys:
        keys = [r[pk] for r in src.query(name, filter="", output_fields=[pk], limit=sample_size)]
    fields = [f.name for f in plan.schema.fields if f.name not in computed]
    def rows_of(client: Any) -> dict:
        if not keys:
            return {}
        return {r[pk]: r for r in client.query(name, filter=_filter_for(pk, keys),
                                                output_fields=plan.read_fields,
                                                consistency_level="Strong")}

    a, b = rows_of(src), rows_of(dst)
    rows_checked = 0
    for key, row in a.items():
        other = b.get(key)
        if other is None:
            problems.append(f"row {key!r} is missing from the destination")
            continue
        rows_checked += 1
        names = set(fields) | {k for k in row if k not in computed}
        for f in sorted(names):
            if not same(row.get(f), other.get(f)):
                problems.append(f"row {key!r}, field {f!r}: source {str(row.get(f))[:80]} != "
                                f"destination {str(other.get(f))[:80]}")
                break

    search_report = {}
    for field in plan.schema.fields:
        if field.dtype not in SEARCH_TYPES or field.name in computed:
            continue
        if not any(ix.field_name == field.name for ix in plan.indexes):
            continue
        queries = [r[field.name] for r in list(a.values())[:searches] if r.get(field.name) is not None]
        if not queries:
            continue
        ra = src.search(name, queries, anns_field=field.name, limit=TOP_K,
                        search_params=_thorough(src, name, field.name), consistency_level="Strong")
        rb = dst.search(name, queries, anns_field=field.name, limit=TOP_K,
                        search_params=_thorough(dst, name, field.name), consistency_level="Strong")
        identical, overlap, unexplained = 0, 0.0, []
        for q, ha, hb in zip(queries, ra, rb):
            ids_a, ids_b = [h.id for h in ha], [h.id for h in hb]
            da, db = [h.distance for h in ha], [h.distance for h in hb]
            tied = len(da) == len(db) and all(_close(x, y) for x, y in zip(da, db))
            if ids_a == ids_b or (tied and set(ids_a) == set(ids_b)):
                identical += 1
            else:
                # Ids that only one side returned: an approximate index may miss a neighbour,
                # but a faithful copy gives every one of them the same distance on both sides.
                # Searches restricted to those few ids are exact on both engines.
                union = list(dict.fromkeys(ids_a + ids_b))
                within = _filter_for(pk, union)
                xa = {h.id: h.distance for h in src.search(
                    name, [q], anns_field=field.name, limit=len(union), filter=within,
                    consistency_level="Strong")[0]}
                xb = {h.id: h.distance for h in dst.search(
                    name, [q], anns_field=field.name, limit=len(union), filter=within,
                    consistency_level="Strong")[0]}
                if xa.keys() != xb.keys() or not all(_close(xa[k], xb[k]) for k in xa):
                    unexplained.append(sorted(set(xa.items()) ^ set(xb.items()), key=str)[:4])
            overlap += len(set(ids_a) & set(ids_b)) / max(1, len(ids_a))
        search_report[field.name] = {"queries": len(queries), "identical_top10": identical,
                                     "mean_overlap": round(overlap / len(queries), 4)}
        if unexplained:
            problems.append(f"searches on {field.name!r}: {len(unexplained)} of {len(queries)} "
                            f"sampled queries score the same ids differently on the two sides "
                            f"(first: {unexplained[0]})")
    return {"ok": not problems, "counts": dst_counts, "rows_checked": rows_checked,
            "searches": search_report, "problems": problems}
