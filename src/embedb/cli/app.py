"""The ``embedb`` click group: shared options (``--db``, ``--collection``, ``--debug``), opening the
database, and turning errors into one clear line with a non-zero exit code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import click

from .. import __version__

DEFAULT_COLLECTION = "docs"
_DEBUG_KEY = "embedb.debug"


def one_line(error: BaseException) -> str:
    """The message of an error on one line: the Milvus message, else ``Type: text``."""
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    if not hasattr(error, "code") and not isinstance(error, (OSError, ValueError)):
        message = f"{type(error).__name__}: {message}"
    return " ".join(str(message).split())


class EmbedbGroup(click.Group):
    """A group whose subcommands fail with ``Error: <one line>`` (exit code 1) instead of a
    traceback, unless ``--debug`` (or ``EMBEDB_DEBUG=1``) asks for the traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as error:  # user-facing boundary: any failure becomes one line
            if ctx.meta.get(_DEBUG_KEY) or os.environ.get("EMBEDB_DEBUG"):
                raise
            raise click.ClickException(one_line(error)) from error


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[_DEBUG_KEY] = True
    return value


def debug_option(f: Callable) -> Callable:
    return click.option("--debug", is_flag=True, expose_value=False, callback=_set_debug,
                        is_eager=True, help="Show the full traceback on errors.")(f)


def db_option(f: Callable) -> Callable:
    """``--db PATH`` (or ``$EMBEDB_DB``) and ``--debug`` for a command."""
    f = debug_option(f)
    return click.option("--db", "db", required=True, envvar="EMBEDB_DB", metavar="PATH|URI",
                        help="Database path, or a Milvus server URI such as http://host:19530 "
                             "(token from EMBEDB_TOKEN); or set EMBEDB_DB.")(f)


def collection_option(f: Callable) -> Callable:
    return click.option("-c", "--collection", default=None, metavar="NAME",
                        help="Collection name (default: the only collection, or 'docs').")(f)


def open_client(db: str, create: bool = False, read_only: bool = False):
    """Open the database at ``db``; closed when the command's context closes. Read-only clients
    do not take the write lock, so they work while another process writes."""
    from embedb import MilvusClient
    from embedb.remote import is_remote_uri

    if is_remote_uri(db):  # a Milvus server: every call goes there (read_only is a local notion)
        client = MilvusClient(db, token=os.environ.get("EMBEDB_TOKEN", ""))
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ctx.call_on_close(client.close)
        return client
    path = Path(db)
    if not create and not path.exists():
        raise click.ClickException(f"database not found: {db}")
    client = MilvusClient(str(path), read_only=True) if read_only else MilvusClient(str(path))
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(client.close)
    return client


def resolve_collection(client, name: str | None) -> str:
    """The collection a command works on: the one named, else the only one, else 'docs'."""
    names = client.list_collections()
    if name is not None:
        if name not in names and not client.has_collection(name):
            listed = ", ".join(sorted(names)) or "none"
            raise click.ClickException(f"collection not found: {name!r} (collections: {listed})")
        return name
    if len(names) == 1:
        return names[0]
    if DEFAULT_COLLECTION in names:
        return DEFAULT_COLLECTION
    if not names:
        raise click.ClickException("the database has no collections (create one with 'embedb ingest')")
    raise click.ClickException(f"several collections ({', '.join(sorted(names))}): choose one with --collection")


def ensure_loaded(client, name: str) -> None:
    """Load a released collection before reading it (search and query need it loaded)."""
    state = client.get_load_state(name).get("state")
    if getattr(state, "name", str(state)) != "Loaded":
        client.load_collection(name)


@click.group(cls=EmbedbGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="embedb")
@debug_option
def cli() -> None:
    """embedb: an embedded vector database with built-in embedding models.

    \b
    Example:
        embedb ingest ./notes --db notes.db
        embedb search "where was Turing born?" --db notes.db --mode hybrid
    """
