"""The core of :class:`MilvusClient`: opening a database from a URI, closing it, and the
argument-normalisation helpers every mixin shares.

A client owns no storage logic. Local paths (and ``":memory:"``) open an
:class:`embedb.engine.Database`; the engine shares one open database between the clients of a
path in one process (like Milvus Lite's one server per path) and closes it with the last one.
"""

from __future__ import annotations

import abc
import enum
import os
import sys
from pathlib import Path
from typing import Any, Iterable

from ..errors import (
    CollectionNotFoundError,
    CollectionNotLoadedError,
    MilvusException,
    ParamError,
    PartitionNotFoundError,
    StorageError,
)
from .databases import call_db_name  # db_name= of the running call (per thread)

# The server's cap on limit, offset + limit, topk and nq.
MAX_QUERY_WINDOW = 16384

_REMOTE_SCHEMES = ("http://", "https://", "tcp://", "grpc://", "grpcs://", "unix:")


class LoadState(enum.IntEnum):
    """Load state of a collection, as ``pymilvus.client.types.LoadState``."""

    NotExist = 0
    NotLoad = 1
    Loading = 2
    Loaded = 3

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.name}>"

    def __str__(self) -> str:
        return self.name


def parse_uri(uri: Any) -> str | None:
    """Return the local database path for ``uri``, or None for an in-memory database."""
    if isinstance(uri, os.PathLike):
        uri = os.fspath(uri)
    if not isinstance(uri, str):
        raise ParamError(f"uri must be a str or a path, got {type(uri).__name__}")
    text = uri.strip()
    if not text:
        raise ParamError("uri must not be empty: pass a local path such as './demo.db' or ':memory:'")
    if text == ":memory:":
        return None
    if text.lower().startswith(_REMOTE_SCHEMES):
        raise ParamError(
            f"uri {uri!r} names a Milvus server, not a local path; open it with "
            "embedb.MilvusClient(uri) (needs pip install \"embedb[remote]\")"
        )
    if text.lower().startswith("file://"):
        text = text[len("file://"):]
    path = Path(text).expanduser()
    parent = path.parent
    if not parent.is_dir():
        raise ParamError(f"uri {uri!r}: the parent directory {str(parent)!r} does not exist")
    return str(path)


_MIGRATE_HINT = (
    "to bring the data over, run `milvus-lite dump` where Milvus Lite is installed, then "
    "`embedb import <dump folder> --db <new path>`"
)


def refuse_foreign_database(path: str) -> None:
    """Refuse to open (and so write into) a Milvus Lite database: a 2.x ``.db`` is one SQLite
    file, a 3.x ``.db`` a directory with ``LOCK`` and ``collections/``. embedb's own database is a
    directory holding ``embedb.sqlite3``."""
    from ..engine.storage import SQLITE_NAME, embedb_collection_folders

    p = Path(path)
    if p.is_file():
        raise StorageError(
            f"{path!r} is a file, not an embedb database (embedb keeps a database in a directory; "
            f"a Milvus Lite 2.x database is a single file); {_MIGRATE_HINT}"
        )
    if p.is_dir() and not (p / SQLITE_NAME).exists() and (p / "LOCK").exists() \
            and (p / "collections").is_dir() and not embedb_collection_folders(p):  # else: embedb's, damaged
        raise StorageError(
            f"{path!r} is a Milvus Lite 3.x database, which embedb does not open (it is left "
            f"untouched); {_MIGRATE_HINT}"
        )


def as_name_list(value: Any, what: str) -> list[str] | None:
    """``None`` -> None; ``"a"`` -> ["a"]; a list/tuple of str -> list. Anything else: ParamError."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        for item in value:
            if not isinstance(item, str):
                raise ParamError(
                    f"{what} must be a str or a list of str, got an item of type {type(item).__name__}"
                )
        return list(value)
    raise ParamError(f"{what} must be a str or a list of str, got {type(value).__name__}")


def as_rows(data: Any) -> list[dict]:
    """A dict or a list of dicts -> list of dicts (the ``data`` argument of insert/upsert)."""
    if isinstance(data, dict):
        return [data]
    if isinstance(data, tuple):
        data = list(data)
    if not isinstance(data, list):
        raise ParamError(
            f"wrong type of argument 'data': expected a dict or a list of dicts, got {type(data).__name__}"
        )
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise ParamError(
                f"wrong type of argument 'data': row {i} is a {type(row).__name__}, expected a dict"
            )
    return data


def as_pk_list(ids: Any, what: str = "ids") -> list:
    """A primary key or a list of them -> list. Keys must be int or str (numpy ints accepted)."""
    if isinstance(ids, (str, int)) and not isinstance(ids, bool):
        return [ids]
    if hasattr(ids, "tolist") and not isinstance(ids, (list, tuple)):  # numpy arrays and scalars
        ids = ids.tolist()
        if not isinstance(ids, list):
            ids = [ids]
    if not isinstance(ids, (list, tuple)):
        raise ParamError(f"wrong type of argument {what}: expected an int, a str or a list of them, "
                         f"got {type(ids).__name__}")
    out = []
    for pk in ids:
        if hasattr(pk, "item") and not isinstance(pk, (str, int)):
            pk = pk.item()
        if isinstance(pk, bool) or not isinstance(pk, (int, str)):
            raise ParamError(f"wrong type of argument {what}: primary keys must be int or str, "
                             f"got {type(pk).__name__}")
        out.append(pk)
    return out


def check_name(value: Any, what: str = "collection_name") -> str:
    if not isinstance(value, str) or not value:
        # pymilvus's own argument check words it so; an empty partition name is the server's
        if value == "" and what == "partition_name":
            raise ParamError("Invalid partition name: . Partition name should not be empty.")
        raise ParamError(f"`{what}` value {value} is illegal (a non-empty str is needed)")
    return value


class ClientBase(metaclass=abc.ABCMeta):
    """Constructor, lifetime and the helpers shared by the mixins of :class:`MilvusClient`."""

    def __new__(cls, uri: Any = ":memory:", *args: Any, **kwargs: Any) -> Any:
        # One interface, two backends: a server URI gets the remote backend, which sends every
        # call to that Milvus server through pymilvus; a path gets this class over the engine.
        if isinstance(uri, str) and uri.strip().lower().startswith(_REMOTE_SCHEMES):
            from ..remote import RemoteMilvusClient
            from . import MilvusClient

            MilvusClient.register(RemoteMilvusClient)  # isinstance(c, MilvusClient) for both
            return RemoteMilvusClient(uri, *args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        uri: str = ":memory:",
        user: str = "",
        password: str = "",
        db_name: str = "",
        token: str = "",
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        # user/password/token/timeout have no meaning for a local database: accepted, ignored.
        self._db = None
        if db_name is not None and not isinstance(db_name, str):
            raise ParamError(f"db_name must be a str, got {type(db_name).__name__}")
        self._db_name = db_name or "default"  # the Milvus database calls go to (use_database)
        read_only = kwargs.pop("read_only", False)
        if not isinstance(read_only, bool):
            raise ParamError(f"read_only must be a bool, got {type(read_only).__name__}")
        self._uri = uri
        path = parse_uri(uri)
        if path is not None:
            refuse_foreign_database(path)
        from ..engine import Database  # the engine loads when a client opens, not at import
        from ..functions import install as install_functions

        install_functions()   # TEXTEMBEDDING runs models through embedb.functions (engine hook)
        # "fsync" (default: a write survives a power cut) or "process" (survives kill -9, as
        # LanceDB's add; checked by Database.open, nothing opened on a bad value)
        self._db = Database.open(path, read_only=read_only, durability=kwargs.pop("durability", "fsync"))
        # pymilvus's name of the shared connection: clients of one path share one database
        self._using = f"embedb:{os.path.abspath(path) if path else f'memory-{id(self._db)}'}"
        if not self._db.has_database(self._db_name):  # as the server: connecting to a missing db fails
            db, self._db = self._db, None
            db.close()
            from ..errors import DatabaseNotFoundError

            raise DatabaseNotFoundError(f"database not found[database={self._db_name}]")

    # lifetime -----------------------------------------------------------------------------
    def close(self) -> None:
        """Close the client. The database closes (and checkpoints) when its last client closes."""
        db, self._db = self._db, None
        if db is not None:
            db.close()

    def __enter__(self) -> "ClientBase":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten client must not keep the database lock forever
        try:
            # at interpreter exit the engine's atexit hook has closed every database while
            # Python was whole; a checkpoint now would run half torn down (the log replays)
            if sys.is_finalizing():
                return
            if getattr(self, "_db", None) is not None:
                self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._db is None else "open"
        return f"MilvusClient(uri={self._uri!r}, {state})"

    # helpers for the mixins ---------------------------------------------------------------
    @property
    def _database(self) -> Any:
        """The engine catalog seen from the current Milvus database (client's ``db_name``, or a
        call's ``db_name=`` keyword)."""
        if self._db is None:
            raise MilvusException("should create connection first: the client is closed; "
                                  "create a new MilvusClient to reconnect")
        name = self._current_db_name()
        if name != "default" and not self._db.has_database(name):
            from ..errors import DatabaseNotFoundError

            raise DatabaseNotFoundError(f"database not found[database={name}]")
        return self._db.namespace(name)

    def _current_db_name(self) -> str:
        return call_db_name() or self._db_name

    def _collection(self, name: Any, describing: bool = False) -> Any:
        """The engine Collection behind a collection name or alias. ``describing``: the call is
        one pymilvus answers from a DescribeCollection (describe, insert, upsert, get), whose
        miss the server words "can't find collection"."""
        check_name(name)
        db = self._database
        try:
            return db.get_collection(name)
        except CollectionNotFoundError:
            # The server checks the name before looking it up: a name no collection could
            # have is a parameter error in its words, any other a miss naming the database.
            from ..engine.collection import _check_name

            _check_name(name, "collection")
            what = "can't find collection" if describing else "collection not found"
            raise CollectionNotFoundError(
                f"{what}[database={self._current_db_name()}][collection={name}]"
            ) from None

    def _loaded_collection(self, name: Any, describing: bool = False) -> Any:
        """Like :meth:`_collection`, but the collection must be loaded (search, query, get)."""
        coll = self._collection(name, describing)
        if not coll.loaded:
            raise CollectionNotLoadedError(
                f"collection not loaded[collection={name}]: call load_collection({name!r}) first"
            )
        return coll

    @staticmethod
    def _check_partitions(coll: Any, names: Iterable[str] | None) -> list[str] | None:
        """Validate partition names of a read or delete; None means all partitions."""
        if names is None:
            return None
        names = list(names)
        if not names:
            return None
        for p in names:
            if not coll.has_partition(p):
                raise PartitionNotFoundError(  # both of the server's wordings (DDL / reads)
                    f"partition not found[partition={p}]: partition name {p} not found in "
                    f"collection {coll.name!r}"
                )
        return names
