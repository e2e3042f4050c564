"""Inspect and manage a database: ``collections``, ``describe``, ``stats``, ``query``, ``delete``,
``drop``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..schema import DataType
from .app import collection_option, db_option, ensure_loaded, open_client, resolve_collection
from .layout import read_layout
from .output import emit_record, emit_rows, output_options, to_jsonable


def _type_name(t) -> str:
    if isinstance(t, str):
        return t
    return t.name if isinstance(t, DataType) else DataType(int(t)).name


def _collection_summary(client, name: str) -> dict:
    layout = read_layout(client, name)
    return {"name": name, "rows": client.get_collection_stats(name)["row_count"],
            "dense": f"{layout.dense} ({layout.dim}-d)" if layout.dense else "",
            "bm25": f"{layout.text} -> {layout.bm25}" if layout.bm25 else "",
            "model": layout.model or ""}


def _disk_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@click.command()
@db_option
@output_options
def collections(db, fmt):
    """List the collections of a database with row counts and vector fields.

    \b
    Example:
        embedb collections --db notes.db
    """
    client = open_client(db, read_only=True)
    emit_rows([_collection_summary(client, n) for n in sorted(client.list_collections())], fmt,
              columns=["name", "rows", "dense", "bm25", "model"], title="collections")


@click.command()
@click.argument("collection", required=False)
@db_option
@output_options
def describe(collection, db, fmt):
    """Show a collection's schema, functions, indexes and properties.

    \b
    Example:
        embedb describe docs --db notes.db
    """
    client = open_client(db, read_only=True)
    name = resolve_collection(client, collection)
    info = to_jsonable(client.describe_collection(name))
    indexes = [to_jsonable(client.describe_index(name, ix)) for ix in client.list_indexes(name)]
    if fmt == "json":
        emit_record({**info, "indexes": indexes, "row_count": client.get_collection_stats(name)["row_count"]}, fmt)
        return
    rows = []
    for f in info["fields"]:
        params = dict(f.get("params") or {})
        flags = [k for k in ("is_primary", "auto_id", "nullable", "is_partition_key",
                             "is_function_output") if f.get(k)]
        rows.append({"field": f["name"], "type": _type_name(f["type"]),
                     "params": params or "", "flags": " ".join(flags)})
    emit_rows(rows, fmt, title=f"collection {name!r}")
    if fmt == "table":
        extra = [{"what": "function", "detail": f"{fn['name']}: {fn['type']} "
                  f"{fn['input_field_names']} -> {fn['output_field_names']}"} for fn in info["functions"]]
        extra += [{"what": "index", "detail": f"{ix.get('index_name')}: {ix.get('index_type')} "
                   f"{ix.get('metric_type', '')} on {ix.get('field_name')}"} for ix in indexes]
        extra += [{"what": "property", "detail": f"{k} = {v}"} for k, v in info["properties"].items()]
        extra.append({"what": "dynamic fields", "detail": str(info["enable_dynamic_field"])})
        emit_rows(extra, fmt)


@click.command()
@db_option
@output_options
def stats(db, fmt):
    """Show database totals: collections, rows and size on disk.

    \b
    Example:
        embedb stats --db notes.db --json
    """
    client = open_client(db, read_only=True)
    names = sorted(client.list_collections())
    per = {n: client.get_collection_stats(n)["row_count"] for n in names}
    remote = "://" in db or db.startswith("unix:")  # a server: no local files to measure
    emit_record({"path": db if remote else os.path.abspath(db), "collections": len(names),
                 "rows": sum(per.values()), **({} if remote else {"disk_bytes": _disk_size(Path(db))}),
                 **{f"rows[{n}]": c for n, c in per.items()}}, fmt, title="database")


@click.command()
@click.argument("expr", required=False, default="")
@db_option
@collection_option
@click.option("--output-field", "-o", "fields", multiple=True, metavar="FIELD",
              help="Field to return (repeatable; default: all but vectors; '*' for everything).")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=None, help="At most N rows.")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip N rows.")
@click.option("--count", is_flag=True, help="Print only the number of matching rows.")
@output_options
def query(expr, db, collection, fields, limit, offset, count, fmt):
    """Fetch the rows that match a filter expression (all rows without one).

    \b
    Example:
        embedb query 'chunk == 0' --db notes.db -o source -o text -n 10
        embedb query 'source like "%faq%"' --db notes.db --count
    """
    client = open_client(db, read_only=True)
    name = resolve_collection(client, collection)
    ensure_loaded(client, name)
    if count:
        n = client.query(name, filter=expr, output_fields=["count(*)"])[0]["count(*)"]
        emit_record({"count": n}, fmt)
        return
    if not fields:
        info = client.describe_collection(name)
        fields = [f["name"] for f in info["fields"] if not DataType(int(f["type"])).is_vector]
        if info.get("enable_dynamic_field"):
            fields.append("$meta")
    kwargs = {"offset": offset}
    if limit is not None:
        kwargs["limit"] = limit
    rows = client.query(name, filter=expr, output_fields=list(fields), **kwargs)
    emit_rows([dict(r) for r in rows], fmt, title=f"{len(rows)} row(s) from {name!r}")


@click.command()
@click.argument("expr", required=False, default="")
@db_option
@collection_option
@click.option("--id", "ids", multiple=True, metavar="ID", help="Primary key to delete (repeatable).")
@output_options
def delete(expr, db, collection, ids, fmt):
    """Delete rows by filter expression or by primary key.

    \b
    Example:
        embedb delete 'source like "%draft%"' --db notes.db
        embedb delete --id 'notes/a.md#0' --db notes.db -c docs
    """
    if bool(expr) == bool(ids):
        raise click.UsageError("give either a filter expression or --id (not both)")
    client = open_client(db)
    name = resolve_collection(client, collection)
    ensure_loaded(client, name)
    if ids:
        pk_type = next(DataType(int(f["type"])) for f in client.describe_collection(name)["fields"]
                       if f.get("is_primary"))
        try:
            keys = [int(i) for i in ids] if pk_type.is_integer else list(ids)
        except ValueError:
            raise click.BadParameter("the primary key is an integer field; give integer ids",
                                     param_hint="--id") from None
        result = client.delete(name, ids=keys)
    else:
        result = client.delete(name, filter=expr)
    deleted = result.get("delete_count") if isinstance(result, dict) else len(result)
    client.flush(name)
    emit_record({"collection": name, "deleted": deleted}, fmt)


@click.command()
@click.argument("collection")
@db_option
@click.option("--ignore", is_flag=True, help="Do nothing (and succeed) if it does not exist.")
def drop(collection, db, ignore):
    """Drop a collection and all its data.

    \b
    Example:
        embedb drop docs --db notes.db
    """
    client = open_client(db)
    if not client.has_collection(collection):
        if ignore:
            return
        raise click.ClickException(f"collection not found: {collection!r}")
    client.drop_collection(collection)
    click.echo(f"dropped collection {collection!r}", err=True)
