"""The ``embedb`` command (``embedb --help``; ``python -m embedb.cli``).

Each module holds one group of subcommands; this package assembles them into the click group.
"""

from __future__ import annotations

from .app import cli
from .check import check
from .evaluate import evaluate
from .ingest import ingest
from .manage import collections, delete, describe, drop, query, stats
from .migrate import migrate_command
from .search import search
from .serve import serve
from .transfer import export_command, import_command

for _command in (ingest, search, collections, describe, stats, query, delete, drop, evaluate,
                 export_command, import_command, migrate_command, serve, check):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``embedb`` console script."""
    cli.main(args=argv, prog_name="embedb")


__all__ = ["cli", "main"]
