"""``embedb check PATH``: verify every checksum, the catalog and the write log of a database."""

from __future__ import annotations

import click

from .app import debug_option
from .output import emit_record, emit_rows, output_options


@click.command("check")
@click.argument("path", type=click.Path(exists=True, file_okay=True, dir_okay=True))
@debug_option
@output_options
@click.pass_context
def check(ctx, path, fmt):
    """Verify a database: checksums of every file, the catalog and the write log.

    Reads only (no write lock, nothing changed), so it runs beside a writer. Prints what is
    damaged and what to do, and exits with status 1 when anything is; 0 when all is intact.
    Damaged index and full-text files are rebuilt from the columns when next used; any
    other damage needs the database restored from a backup.

    \b
    Example:
        embedb check notes.db
        embedb check notes.db --json
    """
    from ..engine.check import check_database

    problems, checked = check_database(path)
    if fmt == "json":
        emit_record({"database": path, "ok": not problems, "files_checked": checked, "problems": problems}, fmt)
    elif problems:
        emit_rows(problems, fmt, columns=["file", "kind", "problem", "action"],
                  title=f"{path}: {len(problems)} problem(s) in {checked} files checked")
    elif fmt == "csv":
        emit_rows([], fmt, columns=["file", "kind", "problem", "action"])
    else:
        click.echo(f"ok: {path}: {checked} files checked, no damage")
    if problems:
        ctx.exit(1)
