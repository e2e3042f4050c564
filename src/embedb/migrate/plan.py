"""What a migration copies, read from the source: a :class:`CollectionPlan` per collection
(schema, functions, indexes, partitions, aliases, properties, row counts), and how each part
appears on the destination. Reading only; nothing is written here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import MilvusException, ParamError
from ..schema import CollectionSchema, DataType, Function, FunctionType, IndexParam

DEFAULT_PARTITION = "_default"
# Collection property where migrate keeps an index spec the destination could not build as is,
# so migrating back restores the original index.
INDEX_PROPERTY = "embedb.migrate.indexes"
# Index parameters a server fills in by itself (a copy must not turn them into user choices).
_SERVER_FILLED = {"dim": None, "bm25_k1": 1.2, "bm25_b": 0.75, "bm25_avgdl": 1000,
                  "mmap.enabled": None}


@dataclass
class CollectionPlan:
    name: str
    schema: CollectionSchema
    indexes: list[IndexParam]
    partitions: list[str]               # [] when the source cannot list them (all in _default)
    aliases: list[str]
    properties: dict
    consistency_level: Any
    num_partitions: int | None          # partition-key collections only
    rows: dict[str, int]                # rows per partition (or {"*": n} for partition keys)
    notes: list[str] = field(default_factory=list)
    # function outputs the destination gets as plain data (the source does not return them
    # with "*", so they are asked for by name)
    materialized: list[str] = field(default_factory=list)

    @property
    def read_fields(self) -> list[str]:
        return ["*"] + self.materialized

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def pk(self) -> str:
        return self.schema.primary_field.name

    @property
    def computed_fields(self) -> set[str]:
        """Fields the destination computes itself (function outputs): never copied as data."""
        return {n for fn in self.schema.functions for n in fn.output_field_names}

    @property
    def partition_key(self) -> bool:
        return self.schema.partition_key_field is not None

    def streams(self) -> list[str | None]:
        """The row streams to copy: one per partition, or one (None) for partition-key or
        partition-less sources."""
        if self.partition_key or not self.partitions:
            return [None]
        return list(self.partitions)

    def summary(self) -> dict:
        return {
            "collection": self.name,
            "rows": self.total_rows,
            "fields": [f"{f.name}:{f.dtype.name}" for f in self.schema.fields],
            "functions": [f"{fn.name}:{fn.type.name} {fn.input_field_names}->{fn.output_field_names}"
                          for fn in self.schema.functions],
            "indexes": [f"{ix.field_name}:{ix.index_type}/{ix.metric_type or '-'} {ix.params or ''}".strip()
                        for ix in self.indexes],
            "partitions": {p: n for p, n in self.rows.items()},
            "aliases": self.aliases,
            "properties": self.properties,
            "notes": self.notes,
        }


def _try(call, default):
    """A source call that some servers do not implement (Milvus Lite 2.x: partitions, aliases)."""
    try:
        return call()
    except MilvusException:
        return default


def _index_param(info: dict) -> IndexParam:
    skip = {"index_type", "metric_type", "field_name", "index_name", "total_rows", "indexed_rows",
            "pending_index_rows", "state", "params"}
    params = {k: v for k, v in info.items() if k not in skip}
    if isinstance(info.get("params"), dict):
        params.update(info["params"])
    for key, default in _SERVER_FILLED.items():
        if key in params and (default is None or params[key] == default):
            del params[key]
    index_type = str(info.get("index_type") or "").upper()
    if index_type == "AUTOINDEX":  # the server's own choice of build parameters
        params = {}
    return IndexParam(info["field_name"], index_type, info.get("index_name") or info["field_name"],
                      info.get("metric_type") or None, params)


def _infer_functions(schema: CollectionSchema, notes: list[str]) -> None:
    """Milvus Lite 2.x describes a collection without its functions; its BM25 output fields are
    still flagged. Rebuild the BM25 function when its input is unambiguous."""
    outputs = {n for fn in schema.functions for n in fn.output_field_names}
    inputs = {n for fn in schema.functions for n in fn.input_field_names}
    orphans = [f for f in schema.fields if f.is_function_output and f.name not in outputs]
    candidates = [f for f in schema.fields if f.dtype == DataType.VARCHAR
                  and f.params.get("enable_analyzer") and f.name not in inputs]
    for out in orphans:
        if len(orphans) == 1 and len(candidates) == 1:
            src = candidates[0]
            schema.add_function(Function(f"{src.name}_bm25_emb", FunctionType.BM25, [src.name],
                                         [out.name]))
            notes.append(f"function: the source did not describe its functions; BM25 "
                         f"{src.name!r} -> {out.name!r} inferred from the schema")
        else:
            raise ParamError(
                f"field {out.name!r} is a function output but the source does not say which "
                "function fills it; migrate this collection from a source that describes its "
                "functions (an embedb path, a Milvus server or a Milvus Lite 3.x database)")


def read_plan(client: Any, name: str) -> CollectionPlan:
    """Read everything a copy of collection ``name`` needs from ``client``."""
    info = client.describe_collection(name)
    notes: list[str] = []
    schema = CollectionSchema.from_dict(info)
    pk = next((f for f in schema.fields if f.is_primary), None)
    if pk is None:
        raise ParamError(f"collection {name!r}: the source describes no primary key field")
    _infer_functions(schema, notes)
    for f in schema.fields:  # Milvus Lite 3 describes an ARRAY of VARCHAR without its max_length
        if f.dtype == DataType.ARRAY and f.element_type == DataType.VARCHAR and not f.max_length:
            f.params["max_length"] = 65535
            notes.append(f"field {f.name!r}: the source gives no max_length for its VARCHAR "
                         "elements; 65535 (the largest) is used")
    properties = dict(info.get("properties") or {})
    saved = properties.pop(INDEX_PROPERTY, None)
    indexes = [_index_param(client.describe_index(name, ix)) for ix in client.list_indexes(name)]
    if saved:  # specs an earlier migration had to map: restore the originals
        originals = {d["field_name"]: IndexParam.from_dict(d) for d in json.loads(saved)}
        indexes = [originals.get(ix.field_name, ix) for ix in indexes]
        notes.append(f"indexes: restored the original specs of {sorted(originals)} "
                     f"(kept in the {INDEX_PROPERTY!r} property)")
    partition_key = schema.partition_key_field is not None
    partitions = [] if partition_key else _try(lambda: list(client.list_partitions(name)), [])
    if not partition_key and not partitions:
        notes.append("partitions: the source does not list partitions; all rows go to _default")
    aliases = _try(lambda: list(client.list_aliases(name).get("aliases", [])), [])
    rows = count_rows(client, name, pk.name, [] if partition_key else partitions)
    num_partitions = info.get("num_partitions") if partition_key else None
    return CollectionPlan(
        name=name, schema=schema, indexes=indexes, partitions=partitions, aliases=aliases,
        properties=properties, consistency_level=info.get("consistency_level"),
        num_partitions=num_partitions or None, rows=rows, notes=notes)


def count_rows(client: Any, name: str, pk: str, partitions: list[str]) -> dict[str, int]:
    """Live rows per partition, read with strong consistency (``{"*": n}`` without partitions)."""
    ensure_loaded(client, name)
    # A filter true for every row: Milvus Lite 3 ignores partition_names when the filter is empty.
    everything = f'{pk} >= ""' if _is_varchar_pk(client, name, pk) else f"{pk} >= 0 or {pk} < 0"

    def count(parts: list[str] | None) -> int:
        res = client.query(name, filter=everything if parts else "", output_fields=["count(*)"],
                           partition_names=parts, consistency_level="Strong")
        return int(res[0]["count(*)"])

    if not partitions:
        return {"*": count(None)}
    return {p: count([p]) for p in partitions}


def _is_varchar_pk(client: Any, name: str, pk: str) -> bool:
    for f in client.describe_collection(name)["fields"]:
        if f["name"] == pk:
            return int(f["type"]) == int(DataType.VARCHAR)
    return False


def ensure_loaded(client: Any, name: str) -> bool:
    """Load ``name`` if it is not; returns whether it had to be loaded."""
    state = client.get_load_state(name).get("state")
    if getattr(state, "name", str(state)) == "Loaded":
        return False
    try:
        client.load_collection(name)
    except MilvusException as error:
        raise ParamError(f"collection {name!r} cannot be loaded, so its rows cannot be read "
                         f"({error.message}); create its indexes there, or leave it out with "
                         "--collection") from error
    return True
