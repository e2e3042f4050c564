"""``DatabasesMixin``: Milvus databases (namespaces of collections) in one embedb path.

A client works in one database at a time: ``db_name=`` of the constructor, changed by
``use_database``; any method that takes ``**kwargs`` also accepts ``db_name=`` for that one
call. ``default`` always exists and cannot be dropped; collections and aliases of different
databases are independent (the same name may exist in each). The engine keeps the namespaces
in its catalog (``Database.namespace``), so they are persisted with it.
"""

from __future__ import annotations

import functools
import inspect
import threading
from typing import Any, Callable

from ..errors import DatabaseNotFoundError, ParamError

_call = threading.local()  # the db_name= of the call running in this thread, if any


def call_db_name() -> str | None:
    # the thread's own dict: getattr(_call, "db_name", None) raises and catches an
    # AttributeError when it is not set (~1.4 us on every client call that names no database)
    return _call.__dict__.get("db_name")


def _as_properties(properties: Any, what: str = "properties") -> dict[str, str]:
    """Property values travel as strings in Milvus (pymilvus sends ``str(value)``)."""
    if properties is None:
        return {}
    if not isinstance(properties, dict):
        raise ParamError(f"{what} must be a dict, got {type(properties).__name__}")
    return {str(k): v if isinstance(v, str) else _format(v) for k, v in properties.items()}


def _format(value: Any) -> str:
    return str(value)  # as pymilvus sends it (True -> "True")


class DatabasesMixin:
    """Database methods of ``MilvusClient`` (pymilvus's names and signatures)."""

    def create_database(self, db_name: str, properties: dict | None = None,
                        timeout: float | None = None, **kwargs: Any) -> None:
        """Create a database; ``properties`` are kept and shown by :meth:`describe_database`
        (``database.max.collections`` is enforced, the others are accepted for compatibility)."""
        self._engine_db().create_database(db_name, _as_properties(properties))

    def drop_database(self, db_name: str, **kwargs: Any) -> None:
        """Drop an empty database (one holding collections is an error, as on the server)."""
        self._engine_db().drop_database(db_name)

    def list_databases(self, timeout: float | None = None, **kwargs: Any) -> list[str]:
        return self._engine_db().list_databases()

    def describe_database(self, db_name: str, **kwargs: Any) -> dict:
        """``{"name": db_name, **properties}`` as pymilvus returns it."""
        d = self._engine_db().describe_database(self._db_name_arg(db_name))
        return {"name": d["name"], **d["properties"]}

    def alter_database_properties(self, db_name: str, properties: dict, **kwargs: Any) -> None:
        self._engine_db().alter_database_properties(self._db_name_arg(db_name), _as_properties(properties))

    def drop_database_properties(self, db_name: str, property_keys: list[str], **kwargs: Any) -> None:
        if isinstance(property_keys, str):
            property_keys = [property_keys] if property_keys else []
        try:
            keys = [str(k) for k in (property_keys or [])]
        except TypeError:
            raise ParamError(f"property_keys must be a list of str, got {type(property_keys).__name__}") from None
        self._engine_db().alter_database_properties(self._db_name_arg(db_name), None, keys)

    def use_database(self, db_name: str, **kwargs: Any) -> None:
        """Switch this client to another database (it must exist)."""
        self.describe_database(db_name)
        self._db_name = db_name

    def using_database(self, db_name: str, **kwargs: Any) -> None:
        """Deprecated pymilvus name of :meth:`use_database`."""
        self.use_database(db_name, **kwargs)

    # helpers --------------------------------------------------------------------------------
    def _engine_db(self) -> Any:
        """The engine Database itself (works whatever the current database)."""
        if self._db is None:
            self._database  # raises: the client is closed
        return self._db

    @staticmethod
    def _db_name_arg(db_name: Any) -> str:
        if not isinstance(db_name, str):
            raise ParamError(f"db_name must be a str, got {type(db_name).__name__}")
        return db_name


def _with_db_name(name: str, fn: Callable) -> Callable:
    @functools.wraps(fn)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        db_name = kwargs.pop("db_name", None)
        if not db_name:
            return fn(self, *args, **kwargs)
        if not isinstance(db_name, str):
            raise ParamError(f"db_name must be a str, got {type(db_name).__name__}")
        if self._db is not None and not self._db.has_database(db_name):
            raise DatabaseNotFoundError(f"database not found[database={db_name}]")
        previous = call_db_name()
        _call.db_name = db_name
        try:
            return fn(self, *args, **kwargs)
        finally:
            _call.db_name = previous

    return method


def accept_db_name_keyword(cls: type) -> type:
    """Let every public method with ``**kwargs`` take ``db_name=`` for that call (pymilvus
    passes it through to the request), except those whose own parameter is the database."""
    for name in dir(cls):
        if name.startswith("_"):
            continue
        attr = inspect.getattr_static(cls, name)
        if not inspect.isfunction(attr):
            continue
        params = inspect.signature(attr).parameters
        if "db_name" in params or not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            continue
        setattr(cls, name, _with_db_name(name, attr))
    return cls
