"""Writing one collection to the destination: create it (schema, functions, properties,
partitions), stream its rows in primary-key order one batch at a time (upserted by primary key,
the position saved after every batch), then build its indexes (mapped where the destination
lacks a type), load it and point its aliases at it."""

from __future__ import annotations

import copy
import json
import random
from typing import Any, Callable

from ..errors import MilvusException, ParamError
from ..remote.local_only import LOCAL_PROVIDERS, server_analyzer
from ..schema import CollectionSchema, DataType, FunctionType, IndexParam, IndexParams
from .plan import DEFAULT_PARTITION, INDEX_PROPERTY, CollectionPlan
from .state import MigrationState


# Per-call deadline towards a server: a stalled server fails the batch (resumable) instead of
# hanging the migration.
CALL_TIMEOUT = 600.0
BATCH_BYTES = 4 * 2**20


class MigrationError(MilvusException):
    """A migration step failed; the message names the collection, the batch and what to do."""


def adapt_for_server(plan: CollectionPlan) -> None:
    """Rewrite embedb-only parts of the schema into what a Milvus server runs, noting each:
    per-language built-in analyzers become the equivalent custom analyzer; a TEXTEMBEDDING
    function with an in-process model is dropped and its vectors are copied as data."""
    for f in plan.schema.fields:
        params = f.params or {}
        mapped = server_analyzer(params.get("analyzer_params"))
        if mapped is not params.get("analyzer_params"):
            plan.notes.append(f"field {f.name!r}: embedb analyzer {params['analyzer_params']!r} "
                              f"written as the equivalent custom analyzer {mapped!r}")
            params["analyzer_params"] = mapped
    kept = []
    for fn in plan.schema.functions:
        provider = str((fn.params or {}).get("provider", "local")).lower()
        if fn.type == FunctionType.TEXTEMBEDDING and provider in LOCAL_PROVIDERS:
            for name in fn.output_field_names:
                plan.schema.field(name).is_function_output = False
                plan.materialized.append(name)
            plan.notes.append(
                f"function {fn.name!r}: its model runs only inside embedb; the server gets the "
                f"vectors of {fn.output_field_names} as data (embed new texts and queries with "
                "embedb.model before sending them)")
            continue
        kept.append(fn)
    plan.schema.functions = kept


def _schema_difference(a: CollectionSchema, b: CollectionSchema) -> str | None:
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):  # the servers disagree on how they spell these flags; compare meaning
        for f in d["fields"]:
            f.pop("is_function_output", None)
            f.pop("description", None)
            for k, v in list((f.get("params") or {}).items()):
                if isinstance(v, str) and v.lower() in ("true", "false"):
                    f["params"][k] = v.lower() == "true"
    if [f["name"] for f in da["fields"]] != [f["name"] for f in db["fields"]]:
        return f"fields {[f['name'] for f in db['fields']]} != {[f['name'] for f in da['fields']]}"
    for fa, fb in zip(da["fields"], db["fields"]):
        if int(fa["type"]) != int(fb["type"]) or fa.get("params", {}).get("dim") != fb.get("params", {}).get("dim") \
                or bool(fa.get("is_primary")) != bool(fb.get("is_primary")):
            return f"field {fa['name']!r}: {fb} != {fa}"
    return None


def prepare_target(dst: Any, plan: CollectionPlan) -> str:
    """Create the collection and its partitions on ``dst`` unless it is there already with the
    same schema (then the copy resumes or repeats idempotently). Returns "created" or "exists"."""
    name = plan.name
    if dst.has_collection(name):
        existing = CollectionSchema.from_dict(dst.describe_collection(name))
        diff = _schema_difference(plan.schema, existing)
        if diff:
            raise MigrationError(
                f"collection {name!r} already exists on the destination with another schema "
                f"({diff}); drop it there, or leave it out with --collection")
        status = "exists"
    else:
        kwargs: dict[str, Any] = {"schema": copy.deepcopy(plan.schema)}
        if plan.properties:
            kwargs["properties"] = dict(plan.properties)
        if plan.consistency_level is not None:
            kwargs["consistency_level"] = plan.consistency_level
        if plan.num_partitions:
            kwargs["num_partitions"] = int(plan.num_partitions)
        try:
            dst.create_collection(name, **kwargs)
        except MilvusException as error:
            raise MigrationError(f"collection {name!r}: the destination refused to create it: "
                                 f"{error.message}") from error
        status = "created"
    if not plan.partition_key:
        for p in plan.partitions:
            if p != DEFAULT_PARTITION and not dst.has_partition(name, p):
                dst.create_partition(name, p)
    return status


def _literal(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else str(int(value))


class PkSample:
    """A uniform sample (reservoir) of the primary keys seen while copying, for verification."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size, self.seen, self.keys = size, 0, []
        self._rng = random.Random(seed)

    def offer(self, keys: list) -> None:
        for key in keys:
            self.seen += 1
            if len(self.keys) < self.size:
                self.keys.append(key)
            else:
                j = self._rng.randrange(self.seen)
                if j < self.size:
                    self.keys[j] = key


def copy_rows(src: Any, dst: Any, plan: CollectionPlan, state: MigrationState, batch_size: int,
              progress: Any, sample: PkSample,
              on_batch: Callable[[str, str | None, int, int], None] | None = None) -> int:
    """Stream every row of ``plan`` from ``src`` to ``dst``; returns the rows written now."""
    name, pk, computed = plan.name, plan.pk, plan.computed_fields
    # Upsert by primary key makes every batch safe to repeat. Where migrate created the
    # collection itself, a batch whose keys all lie past the last key any run may have sent
    # ("pending_to", saved before each write) cannot be there yet, and is inserted instead: on a
    # cluster an upsert is a delete plus an insert. Auto-id collections always upsert (servers
    # may replace the ids of inserted rows).
    fresh = state.collection(name).get("created", False) and not plan.schema.auto_id
    written = 0
    for stream in plan.streams():
        st = state.stream(name, stream or "*")
        sent_upto = st.get("pending_to", st["last_pk"])
        progress.update(st["rows"])  # already copied by an earlier run
        flt = "" if st["last_pk"] is None else f"{pk} > {_literal(st['last_pk'])}"
        target_partition = stream if stream not in (None, DEFAULT_PARTITION) else ""
        where = f"collection {name!r}" + (f", partition {stream!r}" if stream else "")
        try:
            it = src.query_iterator(name, batch_size=batch_size, filter=flt,
                                    output_fields=plan.read_fields,
                                    partition_names=[stream] if stream else None,
                                    timeout=CALL_TIMEOUT)
        except MilvusException as error:
            raise MigrationError(f"{where}: cannot read the source: {error.message}") from error
        try:
            while True:
                try:
                    batch = it.next()
                except MilvusException as error:
                    raise MigrationError(
                        f"{where}: reading batch {st['batches'] + 1} (rows after primary key "
                        f"{st['last_pk']!r}) from the source failed: {error.message}; rerun the "
                        f"same command to resume (state: {state.path})") from error
                if not batch:
                    break
                rows = [{k: v for k, v in r.items() if k not in computed} for r in batch] \
                    if computed else list(batch)
                keys = [r[pk] for r in rows]
                insert = fresh and (sent_upto is None or keys[0] > sent_upto)
                st["pending_to"] = keys[-1]
                state.save()
                try:
                    if insert:
                        dst.insert(name, rows, partition_name=target_partition,
                                   timeout=CALL_TIMEOUT)
                    else:
                        dst.upsert(name, rows, partition_name=target_partition,
                                   timeout=CALL_TIMEOUT)
                except MilvusException as error:
                    raise MigrationError(
                        f"{where}: batch {st['batches'] + 1} ({len(rows)} rows after primary key "
                        f"{st['last_pk']!r}) was refused by the destination: {error.message}. The "
                        f"{st['rows']} rows before it are copied; fix the cause and rerun the same "
                        f"command to resume from this batch (state: {state.path})") from error
                st["last_pk"] = keys[-1]
                st["rows"] += len(rows)
                st["batches"] += 1
                state.save()
                written += len(rows)
                sample.offer(keys)
                progress.update(len(rows))
                if on_batch is not None:
                    on_batch(name, stream, st["batches"], st["rows"])
        finally:
            it.close()
    return written


_FALLBACKS = {
    "dense": ("AUTOINDEX", "FLAT"),
    "binary": ("BIN_FLAT", "AUTOINDEX"),
    "sparse": ("SPARSE_INVERTED_INDEX", "AUTOINDEX"),
}


def _family(dtype: DataType) -> str | None:
    if dtype == DataType.BINARY_VECTOR:
        return "binary"
    if dtype == DataType.SPARSE_FLOAT_VECTOR:
        return "sparse"
    return "dense" if dtype.is_vector else None


def _params_not_kept(dst: Any, name: str, ix: IndexParam) -> dict:
    """The build parameters the destination reports differently from the ones asked for (some
    servers replace them by their defaults)."""
    if not ix.params:
        return {}
    try:
        info = dst.describe_index(name, ix.index_name)
    except MilvusException:
        return {}
    nested = info.get("params") if isinstance(info.get("params"), dict) else {}
    return {k: info.get(k, nested.get(k)) for k, v in ix.params.items()
            if info.get(k, nested.get(k)) != v}


def create_indexes(dst: Any, plan: CollectionPlan) -> list[str]:
    """Build the source's indexes on ``dst``; a type the destination refuses is mapped to the
    nearest one it has (and the original kept in a property, so a migration back restores it).
    Returns the notes of what was mapped or skipped."""
    name, notes, mapped = plan.name, [], []
    existing = set(dst.list_indexes(name))
    for ix in plan.indexes:
        if ix.index_name in existing:
            continue
        try:
            dst.create_index(name, IndexParams([ix]))
        except MilvusException as error:
            refusal = error.message
        else:
            changed = _params_not_kept(dst, name, ix)
            if changed:
                notes.append(f"index {ix.index_name!r} on {ix.field_name!r}: the destination "
                             f"reports {changed} instead of {ix.params}")
                mapped.append(ix.to_dict())
            continue
        field = plan.schema.field(ix.field_name)
        family = _family(field.dtype) if field is not None else None
        if family is None:
            notes.append(f"index {ix.index_name!r} ({ix.index_type}) on {ix.field_name!r} not "
                         f"created: the destination refused it ({refusal})")
            continue
        for alt_type in _FALLBACKS[family]:
            if alt_type == ix.index_type:
                continue
            params = dict(ix.params) if alt_type == "SPARSE_INVERTED_INDEX" else {}
            alt = IndexParam(ix.field_name, alt_type, ix.index_name, ix.metric_type, params)
            try:
                dst.create_index(name, IndexParams([alt]))
            except MilvusException:
                continue
            notes.append(f"index {ix.index_name!r} on {ix.field_name!r}: {ix.index_type} "
                         f"{ix.params or ''} is not available on the destination ({refusal}); "
                         f"built {alt_type} with metric {ix.metric_type} instead")
            mapped.append(ix.to_dict())
            break
        else:
            raise MigrationError(
                f"collection {name!r}: the destination refused index {ix.index_name!r} "
                f"({ix.index_type} on {ix.field_name!r}: {refusal}) and every fallback "
                f"{list(_FALLBACKS[family])}; create a supported index there by hand and rerun")
    if mapped:
        try:
            dst.alter_collection_properties(name, {INDEX_PROPERTY: json.dumps(mapped)})
        except (MilvusException, AttributeError):
            notes.append("the destination keeps no collection properties: the original index "
                         "specs are only in this report")
    if plan.indexes or not any(f.dtype.is_vector for f in plan.schema.fields):
        try:
            dst.load_collection(name)
        except MilvusException as error:
            raise MigrationError(f"collection {name!r}: loading it on the destination failed: "
                                 f"{error.message}") from error
    return notes


def point_aliases(dst: Any, plan: CollectionPlan) -> list[str]:
    """Create the source's aliases on ``dst`` (or move them to this collection)."""
    notes = []
    for alias in plan.aliases:
        try:
            current = dst.describe_alias(alias).get("collection_name")
        except MilvusException:
            current = None
        try:
            if current == plan.name:
                continue
            if current is None:
                dst.create_alias(plan.name, alias)
            else:
                dst.alter_alias(plan.name, alias)
                notes.append(f"alias {alias!r} moved from {current!r} to {plan.name!r}")
        except MilvusException as error:
            notes.append(f"alias {alias!r} not created: {error.message}")
    return notes


def row_bytes(schema: CollectionSchema) -> int:
    """A generous estimate of one row's size on the wire (vectors at full size, strings at up
    to 256 bytes, JSON and dynamic fields at 512)."""
    size = 0
    for f in schema.fields:
        dim = f.dim or 0
        if f.dtype == DataType.FLOAT_VECTOR:
            size += 4 * dim
        elif f.dtype in (DataType.FLOAT16_VECTOR, DataType.BFLOAT16_VECTOR):
            size += 2 * dim
        elif f.dtype == DataType.INT8_VECTOR:
            size += dim
        elif f.dtype == DataType.BINARY_VECTOR:
            size += dim // 8
        elif f.dtype == DataType.SPARSE_FLOAT_VECTOR:
            size += 8 * 256
        elif f.dtype in (DataType.VARCHAR, DataType.ARRAY):
            size += min(256, f.max_length or 256) * (f.max_capacity or 1)
        else:
            size += 8 if f.dtype != DataType.JSON else 512
    return size + (512 if schema.enable_dynamic_field else 0)


def batch_for(plan: CollectionPlan, batch_size: int) -> int:
    """``batch_size``, or fewer rows where a batch would pass BATCH_BYTES: servers refuse or
    stall on larger messages (milvus-lite 2.5.1's never answers a 12 MB query page)."""
    fit = max(1, BATCH_BYTES // max(1, row_bytes(plan.schema)))
    if fit < batch_size:
        if plan.total_rows > fit:
            plan.notes.append(f"batches of {fit} rows (not {batch_size}): a row is up to "
                              f"~{row_bytes(plan.schema):,} bytes and a batch stays under "
                              f"{BATCH_BYTES // 2**20} MiB")
        return fit
    return batch_size


def check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 16384:
        raise ParamError(f"batch_size must be an int between 1 and 16384, got {batch_size!r}")
    return batch_size
