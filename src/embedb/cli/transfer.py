"""``embedb export`` / ``embedb import``: a collection to and from JSON Lines or Parquet, and import
of Milvus Lite dumps (the BulkWriter JSON files ``milvus-lite dump`` writes: ``{"rows": [...]}``).

An export starts with a header that carries the schema, functions, indexes and properties, so an
import recreates the collection as it was. Function output fields (BM25, TEXTEMBEDDING) are not
exported: the collection's function recomputes them from the text on import.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import click
import numpy as np

from ..errors import ParamError, missing_dependency
from ..schema import DataType
from .app import collection_option, db_option, ensure_loaded, open_client, resolve_collection
from .output import emit_record, emit_rows, output_options, progress, to_jsonable

HEADER_KEY = "_embedb_export"
FORMAT_VERSION = 1
BATCH = 1000
_FIELD_FLAGS = ("is_primary", "auto_id", "nullable", "default_value", "is_partition_key",
                "is_clustering_key", "element_type", "description")
_INDEX_STATUS = {"total_rows", "indexed_rows", "pending_index_rows", "state", "field_name",
                 "index_name", "index_type", "metric_type"}


def _dtype(value: Any) -> DataType:
    if isinstance(value, str):
        return DataType[value]
    return value if isinstance(value, DataType) else DataType(int(value))


# -- export --------------------------------------------------------------------------------------

def export_header(client, name: str) -> dict:
    """What an import needs to recreate the collection."""
    info = client.describe_collection(name)
    indexes = []
    for ix in client.list_indexes(name):
        d = client.describe_index(name, ix)
        indexes.append({"field_name": d.get("field_name"), "index_name": d.get("index_name", ix),
                        "index_type": d.get("index_type"), "metric_type": d.get("metric_type"),
                        "params": {k: v for k, v in d.items() if k not in _INDEX_STATUS}})
    schema = {
        "auto_id": info.get("auto_id", False),
        "enable_dynamic_field": info.get("enable_dynamic_field", False),
        "description": info.get("description", ""),
        "fields": [{"name": f["name"], "type": _dtype(f["type"]).name,
                    "params": dict(f.get("params") or {}),
                    **{k: f[k] for k in _FIELD_FLAGS if f.get(k) not in (None, False, "")}}
                   for f in info["fields"]],
        "functions": [{"name": fn["name"], "type": getattr(fn["type"], "name", fn["type"]),
                       "input_field_names": list(fn["input_field_names"]),
                       "output_field_names": list(fn["output_field_names"]),
                       "params": dict(fn.get("params") or {})} for fn in info.get("functions", [])],
    }
    return to_jsonable({HEADER_KEY: FORMAT_VERSION, "collection": name, "schema": schema,
                        "indexes": indexes, "properties": info.get("properties") or {}})


def _function_outputs(header: dict) -> set[str]:
    return {o for fn in header["schema"]["functions"] for o in fn["output_field_names"]}


def _plain_row(row: dict, header: dict, skip: set[str]) -> dict:
    types = {f["name"]: f["type"] for f in header["schema"]["fields"]}
    out = {}
    for key, value in row.items():
        if key in skip:
            continue
        if types.get(key) == "BINARY_VECTOR" and isinstance(value, (bytes, bytearray, list)):
            raw = value[0] if isinstance(value, list) and value and isinstance(value[0], bytes) else value
            value = list(bytes(raw)) if isinstance(raw, (bytes, bytearray)) else raw
        out[key] = to_jsonable(value)
    return out


def iter_rows(client, name: str, header: dict) -> Iterator[dict]:
    skip = _function_outputs(header)
    it = client.query_iterator(name, batch_size=BATCH, output_fields=["*"])
    try:
        while batch := it.next():
            for row in batch:
                yield _plain_row(dict(row), header, skip)
    finally:
        it.close()


def _parquet():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise missing_dependency("pyarrow", "parquet") from None
    return pa, pq


def _json_columns(header: dict) -> set[str]:
    """Columns stored as JSON text in Parquet (values whose shape varies row to row)."""
    names = {f["name"] for f in header["schema"]["fields"]
             if f["type"] in ("JSON", "SPARSE_FLOAT_VECTOR")}
    return names | {"$meta"}


def write_export(rows: Iterator[dict], header: dict, out: Path, fmt: str, advance) -> int:
    count = 0
    if fmt == "jsonl":
        with out.open("w", encoding="utf-8") as f:
            f.write(json.dumps(header, ensure_ascii=False) + "\n")
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
                advance(1)
        return count
    pa, pq = _parquet()
    declared = {f["name"] for f in header["schema"]["fields"]}
    json_cols = _json_columns(header)
    writer = None
    batch: list[dict] = []

    def flush() -> None:
        nonlocal writer
        table = pa.Table.from_pylist(batch)
        if writer is None:
            meta = {b"embedb": json.dumps(header).encode()}
            writer = pq.ParquetWriter(str(out), table.schema.with_metadata(meta))
        writer.write_table(table.cast(writer.schema))

    try:
        for row in rows:
            dynamic = {k: row.pop(k) for k in list(row) if k not in declared}
            if header["schema"]["enable_dynamic_field"]:
                row["$meta"] = dynamic
            batch.append({k: json.dumps(v) if k in json_cols and v is not None else v
                          for k, v in row.items()})
            count += 1
            advance(1)
            if len(batch) >= BATCH:
                flush()
                batch = []
        if batch or writer is None:
            if not batch:  # an empty collection still gets a file with its header
                meta = {b"embedb": json.dumps(header).encode()}
                pq.write_table(pa.table({}).replace_schema_metadata(meta), str(out))
                return 0
            flush()
    finally:
        if writer is not None:
            writer.close()
    return count


def _format_of(path: Path, given: str | None) -> str:
    if given:
        return given
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise click.BadParameter(f"cannot tell the format of {path.name!r}: use a .jsonl or .parquet "
                             "name, or --format", param_hint="--output")


@click.command("export")
@click.argument("collection", required=False)
@db_option
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="File to write (.jsonl or .parquet).")
@click.option("--format", "file_format", type=click.Choice(["jsonl", "parquet"]), default=None,
              help="File format (default: from the file name).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@output_options
def export_command(collection, db, output, file_format, quiet, fmt):
    """Export a collection (schema, indexes and rows) to JSON Lines or Parquet.

    \b
    Example:
        embedb export docs --db notes.db -o docs.jsonl
        embedb export docs --db notes.db -o docs.parquet
    """
    out = Path(output)
    kind = _format_of(out, file_format)
    if kind == "parquet":
        _parquet()  # fail before reading anything when pyarrow is missing
    client = open_client(db, read_only=True)
    name = resolve_collection(client, collection)
    ensure_loaded(client, name)
    header = export_header(client, name)
    total = client.get_collection_stats(name)["row_count"]
    with progress() as bar:
        task = bar.add_task(f"exporting {name}", total=total, visible=not quiet)
        count = write_export(iter_rows(client, name, header), header, out, kind,
                             lambda n: bar.advance(task, n))
    emit_record({"collection": name, "rows": count, "file": str(out), "format": kind}, fmt)


# -- import --------------------------------------------------------------------------------------

def _read_jsonl(path: Path) -> tuple[dict | None, Iterator[dict]]:
    f = path.open(encoding="utf-8")
    first = f.readline()
    try:
        head = json.loads(first) if first.strip() else None
    except json.JSONDecodeError as e:
        f.close()
        raise ParamError(f"{path}:1: not valid JSON ({e.msg})") from None
    header = head if isinstance(head, dict) and HEADER_KEY in head else None

    def rows() -> Iterator[dict]:
        with f:
            if header is None and isinstance(head, dict):
                yield head
            for line_no, line in enumerate(f, 2):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as e:
                        raise ParamError(f"{path}:{line_no}: not valid JSON ({e.msg})") from None

    return header, rows()


def _read_parquet(path: Path) -> tuple[dict | None, Iterator[dict]]:
    pa, pq = _parquet()
    pfile = pq.ParquetFile(str(path))
    meta = pfile.schema_arrow.metadata or {}
    header = json.loads(meta[b"embedb"]) if b"embedb" in meta else None
    json_cols = _json_columns(header) if header else set()

    def rows() -> Iterator[dict]:
        for batch in pfile.iter_batches(batch_size=BATCH):
            for row in batch.to_pylist():
                row = {k: json.loads(v) if k in json_cols and isinstance(v, str) else v
                       for k, v in row.items()}
                row.update(row.pop("$meta", None) or {})
                yield row

    return header, rows()


def _read_dump(path: Path) -> tuple[None, Iterator[dict]]:
    files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
    if not files:
        raise ParamError(f"{path}: no Milvus Lite dump files (*.json) found")

    def rows() -> Iterator[dict]:
        for file in files:
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise ParamError(f"{file}: not valid JSON ({e.msg})") from None
            if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
                raise ParamError(f"{file}: not a Milvus Lite dump (expected {{\"rows\": [...]}})")
            for row in data["rows"]:
                row = dict(row)
                row.update(row.pop("$meta", None) or {})
                yield row

    return None, rows()


def open_source(path: Path) -> tuple[dict | None, Iterator[dict]]:
    if not path.exists():
        raise ParamError(f"file not found: {path}")
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".json":
        return _read_dump(path)
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path)
    if suffix == ".parquet":
        return _read_parquet(path)
    raise ParamError(f"cannot import {path.name!r}: expected .jsonl, .parquet, or a Milvus Lite "
                     "dump (.json file or folder)")


def create_from_header(client, name: str, header: dict) -> None:
    from embedb import Function, FunctionType, MilvusClient

    spec = header["schema"]
    schema = MilvusClient.create_schema(auto_id=spec.get("auto_id", False),
                                        enable_dynamic_field=spec.get("enable_dynamic_field", False),
                                        description=spec.get("description", ""))
    for f in spec["fields"]:
        kwargs = {k: f[k] for k in _FIELD_FLAGS if k in f}
        kwargs.update(f.get("params") or {})
        schema.add_field(f["name"], DataType[f["type"]], **kwargs)
    for fn in spec["functions"]:
        schema.add_function(Function(name=fn["name"], function_type=FunctionType[fn["type"]],
                                     input_field_names=fn["input_field_names"],
                                     output_field_names=fn["output_field_names"],
                                     params=fn.get("params") or None))
    index_params = client.prepare_index_params()
    for ix in header.get("indexes", []):
        index_params.add_index(field_name=ix["field_name"], index_type=ix.get("index_type") or "",
                               index_name=ix.get("index_name") or "",
                               metric_type=ix.get("metric_type"), params=ix.get("params") or {})
    client.create_collection(name, schema=schema, index_params=index_params if len(index_params) else None,
                             properties=header.get("properties") or None)


def infer_and_create(client, name: str, sample: dict, metric: str) -> None:
    """Make a collection for rows without a schema (a Milvus Lite dump, plain JSONL): ``id`` is
    the primary key, lists of numbers are dense vectors, ``{index: value}`` maps are sparse
    vectors, and everything else is a dynamic field."""
    from embedb import MilvusClient

    pk = sample.get("id")
    schema = MilvusClient.create_schema(auto_id="id" not in sample, enable_dynamic_field=True)
    if isinstance(pk, str):
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=65535)
    else:
        schema.add_field("id", DataType.INT64, is_primary=True, auto_id="id" not in sample)
    index_params = client.prepare_index_params()
    for key, value in sample.items():
        if key == "id":
            continue
        if isinstance(value, list) and value and all(isinstance(v, (int, float)) and
                                                      not isinstance(v, bool) for v in value):
            schema.add_field(key, DataType.FLOAT_VECTOR, dim=len(value))
            index_params.add_index(field_name=key, index_type="AUTOINDEX", metric_type=metric)
        elif isinstance(value, dict) and value and all(str(k).isdigit() for k in value):
            schema.add_field(key, DataType.SPARSE_FLOAT_VECTOR)
            index_params.add_index(field_name=key, index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    if not len(index_params):
        raise ParamError(f"cannot infer a schema: the first row has no vector field "
                         f"(keys: {', '.join(sample)}); create collection {name!r} first")
    client.create_collection(name, schema=schema, index_params=index_params)


def _prepare(row: dict, fields: dict[str, dict], skip: set[str]) -> dict:
    """JSON values -> what insert expects for each field type."""
    out = {}
    for key, value in row.items():
        if key in skip:
            continue
        f = fields.get(key)
        kind = _dtype(f["type"]) if f else None
        if value is not None and kind == DataType.SPARSE_FLOAT_VECTOR and isinstance(value, dict):
            value = {int(k): float(v) for k, v in value.items()}
        elif value is not None and kind == DataType.BINARY_VECTOR and isinstance(value, list):
            dim = int((f.get("params") or {}).get("dim", len(value) * 8))
            bits = len(value) == dim and set(value) <= {0, 1}  # milvus-lite dump: one int per bit
            value = np.packbits(np.array(value, dtype=np.uint8)).tobytes() if bits \
                else bytes(bytearray(value))
        elif value is not None and kind == DataType.FLOAT16_VECTOR and isinstance(value, list):
            value = np.asarray(value, dtype=np.float16)
        elif value is not None and kind == DataType.INT8_VECTOR and isinstance(value, list):
            value = np.asarray(value, dtype=np.int8)
        out[key] = value
    return out


def import_rows(client, name: str, rows: Iterator[dict], advance) -> int:
    info = client.describe_collection(name)
    fields = {f["name"]: f for f in info["fields"]}
    skip = {o for fn in info.get("functions", []) for o in fn["output_field_names"]}
    # upsert by primary key makes importing the same file twice harmless; auto-id rows have no
    # key to match, so they are inserted
    write = client.insert if info.get("auto_id") else client.upsert
    count, batch = 0, []
    for row in rows:
        if not isinstance(row, dict):
            raise ParamError(f"row {count + 1}: expected a JSON object, got {type(row).__name__}")
        batch.append(_prepare(row, fields, skip))
        if len(batch) >= BATCH:
            write(name, batch)
            count += len(batch)
            advance(len(batch))
            batch = []
    if batch:
        write(name, batch)
        count += len(batch)
        advance(len(batch))
    client.flush(name)
    return count


@click.command("import")
@click.argument("paths", nargs=-1, required=True, metavar="FILE...")
@db_option
@collection_option
@click.option("--metric", default="COSINE", show_default=True,
              type=click.Choice(["COSINE", "IP", "L2"], case_sensitive=False),
              help="Metric for dense vectors when the schema is inferred (dumps, plain JSONL).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@output_options
def import_command(paths, db, collection, metric, quiet, fmt):
    """Import rows from an 'embedb export' file (.jsonl or .parquet) or a Milvus Lite dump
    (the folder or .json files written by 'milvus-lite dump').

    An export recreates its collection with the same schema and indexes. For a dump or a plain
    JSON Lines file into a new collection, the schema is inferred from the first row: 'id' is
    the primary key, lists of numbers become dense vectors, the rest dynamic fields.

    \b
    Example:
        embedb import docs.jsonl --db copy.db
        embedb import ./dump_dir --db notes.db -c imported
    """
    client = open_client(db, create=True)
    results = []
    with progress() as bar:
        for raw in paths:
            header, rows = open_source(Path(raw))
            name = collection or (header or {}).get("collection")
            if not name:
                raise click.UsageError(f"{raw}: name the target collection with --collection")
            if not client.has_collection(name):
                if header is not None:
                    create_from_header(client, name, header)
                else:
                    first = next(rows, None)
                    if first is None:
                        raise ParamError(f"{raw}: no rows to import")
                    infer_and_create(client, name, first, metric.upper())
                    rows = _chain(first, rows)
            task = bar.add_task(f"importing {Path(raw).name}", total=None, visible=not quiet)
            count = import_rows(client, name, rows, lambda n: bar.advance(task, n))
            results.append({"file": raw, "collection": name, "rows": count})
    if len(results) == 1:
        emit_record(results[0], fmt)
    else:
        emit_rows(results, fmt)


def _chain(first: dict, rest: Iterator[dict]) -> Iterator[dict]:
    yield first
    yield from rest
