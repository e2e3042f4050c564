"""``embedb migrate SRC DST``: copy collections between an embedb path, a Milvus server
(``embedb serve``, Milvus, Zilliz Cloud) and, as source, a Milvus Lite ``.db``."""

from __future__ import annotations

import os

import click

from .app import debug_option
from .output import emit_record, emit_rows, output_options


def _plan_rows(report) -> list[dict]:
    rows = []
    for c in report.collections:
        rows.append({"collection": c["collection"], "rows": c["rows"], "target": c.get("target", ""),
                     "partitions": ", ".join(f"{p}={n}" for p, n in c["partitions"].items()),
                     "indexes": "; ".join(c["indexes"]), "functions": "; ".join(c["functions"]),
                     "aliases": ", ".join(c["aliases"])})
    return rows


@click.command("migrate")
@click.argument("source")
@click.argument("destination")
@click.option("-c", "--collection", "collections", multiple=True, metavar="NAME",
              help="Collection to copy (repeatable; default: all).")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 16384),
              help="Rows read and written per batch (memory holds one batch).")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Compare row counts per partition, sampled rows and sampled top-10 searches.")
@click.option("--state", "state_file", default=None, metavar="FILE",
              help="Resume file (default: ./.embedb-migrate-<hash>.json; removed on success).")
@click.option("--token", envvar="EMBEDB_TOKEN", default="", metavar="TOKEN",
              help="Token ('user:password' or an API key) for server URIs (or set EMBEDB_TOKEN).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@output_options
@debug_option
def migrate_command(source, destination, collections, batch_size, dry_run, verify, state_file,
                    token, quiet, fmt):
    """Copy collections from SOURCE to DESTINATION: schema, functions, indexes, partitions,
    aliases, properties and rows.

    Each of SOURCE and DESTINATION is an embedb path or a server URI (http://, https://,
    tcp://, unix:); SOURCE may also be a Milvus Lite .db (2.x file or 3.x folder). Rows stream in
    batches and are upserted by primary key: an interrupted run resumes where it stopped when
    run again, and a repeated run changes nothing.

    \b
    Example:
        embedb migrate ./notes.db http://localhost:19530 --dry-run
        embedb migrate ./notes.db http://localhost:19530 -c docs
        embedb migrate ./milvus_lite.db ./notes.db
        embedb migrate http://localhost:19530 ./backup.db --token root:Milvus
    """
    from ..migrate import migrate

    options = {"token": token} if token else {}
    report = migrate(
        source, destination, list(collections) or None, batch_size=batch_size, dry_run=dry_run,
        verify=verify, state_file=state_file, progress=not quiet and os.isatty(2),
        source_options=options if "://" in source else None,
        destination_options=options if "://" in destination else None,
        echo=None if quiet else (lambda msg: click.echo(msg, err=True)))
    if dry_run:
        emit_rows(_plan_rows(report), fmt, title=f"plan: {source} -> {destination} (dry run)")
        if fmt == "table":
            for c in report.collections:
                for note in c["notes"]:
                    click.echo(f"  {c['collection']}: {note}", err=True)
        return
    if fmt == "json":
        emit_record({"source": source, "destination": destination, "ok": report.ok,
                     "collections": report.collections}, fmt)
    else:
        rows = []
        for c in report.collections:
            check = c.get("verify")
            rows.append({"collection": c["collection"], "rows": c["rows"],
                         "copied now": c.get("rows_copied", 0), "target": c.get("target", ""),
                         "verified": "skipped" if check is None else ("ok" if check["ok"] else "FAILED")})
        emit_rows(rows, fmt, title=f"migrated {source} -> {destination}")
        for c in report.collections:
            for note in c.get("notes", []):
                click.echo(f"  {c['collection']}: {note}", err=True)
            for problem in (c.get("verify") or {}).get("problems", []):
                click.echo(f"  {c['collection']}: verify: {problem}", err=True)
    if not report.ok:
        raise click.ClickException(
            "verification found differences (listed above); the state file is kept: fix the "
            "cause and rerun the same command")
