"""Output formatting shared by every command: ``--table`` (default), ``--json`` and ``--csv``.

Rows are plain dicts. Tables go through rich; JSON and CSV are written as is, so they can be piped
into ``jq`` or a spreadsheet. Nested values (lists, dicts) become JSON text in tables and CSV.
"""

from __future__ import annotations

import csv
import enum
import functools
import json
import sys
from typing import Any, Callable, Iterable, Sequence

import click

FORMATS = ("table", "json", "csv")


def output_options(f: Callable) -> Callable:
    """Add ``--table/--json/--csv`` to a command; the function receives ``fmt``."""

    @click.option("--csv", "as_csv", is_flag=True, help="Output as CSV.")
    @click.option("--json", "as_json", is_flag=True, help="Output as JSON.")
    @click.option("--table", "as_table", is_flag=True, help="Output as a table (the default).")
    @functools.wraps(f)
    def wrapper(*args: Any, as_table: bool, as_json: bool, as_csv: bool, **kwargs: Any) -> Any:
        chosen = [name for name, on in (("table", as_table), ("json", as_json), ("csv", as_csv)) if on]
        if len(chosen) > 1:
            raise click.UsageError("choose one of --table, --json and --csv")
        return f(*args, fmt=chosen[0] if chosen else "table", **kwargs)

    return wrapper


def to_jsonable(value: Any) -> Any:
    """NumPy scalars and arrays, sparse rows and other odd values -> JSON-able Python."""
    if isinstance(value, enum.Enum):  # DataType, FunctionType, LoadState: names read better
        return value.name
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return to_jsonable(value.tolist())
    if hasattr(value, "tocoo"):  # a scipy sparse row -> {index: value}
        coo = value.tocoo()
        return {str(int(i)): float(v) for i, v in zip(coo.col if coo.ndim == 2 else coo.coords[0], coo.data)}
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), ensure_ascii=False, indent=2)


def _cell(value: Any) -> str:
    value = to_jsonable(value)
    if isinstance(value, float):  # 4 decimals at most, no trailing zeros: 0.7977, 22.15, 1
        return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def _columns(rows: Sequence[dict], columns: Sequence[str] | None) -> list[str]:
    if columns:
        return list(columns)
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def emit_rows(rows: Iterable[dict], fmt: str, columns: Sequence[str] | None = None,
              title: str | None = None) -> None:
    """Print a list of records in the chosen format."""
    rows = list(rows)
    if fmt == "json":
        click.echo(dumps(rows))
        return
    cols = _columns(rows, columns)
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in cols])
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Text() keeps data such as "[docs]" from being read as rich markup
    table = Table(title=Text(title) if title else None, show_lines=False)
    for c in cols:
        table.add_column(Text(c), overflow="fold")
    for row in rows:
        table.add_row(*[Text(_cell(row.get(c))) for c in cols])
    Console(file=sys.stdout, soft_wrap=False).print(table)


def emit_record(record: dict, fmt: str, title: str | None = None) -> None:
    """Print one record: a JSON object, a one-row CSV, or a two-column table."""
    if fmt == "json":
        click.echo(dumps(record))
    elif fmt == "csv":
        emit_rows([record], "csv")
    else:
        emit_rows([{"key": k, "value": v} for k, v in record.items()], "table", title=title)


def stderr_console():
    """A rich console on stderr for progress bars and notes (stdout stays clean for data)."""
    from rich.console import Console

    return Console(stderr=True)


def progress(console=None, transient: bool = False):
    """A rich progress display with a bar, counts, rate and time left."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    console=console or stderr_console(), transient=transient)
