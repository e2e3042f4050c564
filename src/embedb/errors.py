"""One exception hierarchy with Milvus-style error codes.

Every error embedb raises on purpose is a :class:`MilvusException`. Classes also subclass the
builtin that fits (``ValueError``, ``KeyError``...) so callers may catch either.
"""

from __future__ import annotations


class ErrorCode:
    """Milvus status codes (the subset embedb uses)."""

    SUCCESS = 0
    UNEXPECTED_ERROR = 1
    ILLEGAL_ARGUMENT = 1100
    PARAM_ERROR = 1100
    COLLECTION_NOT_FOUND = 100
    INDEX_NOT_FOUND = 700
    PARTITION_NOT_FOUND = 200
    COLLECTION_NOT_LOADED = 101
    ALIAS_NOT_FOUND = 1602
    ALREADY_EXISTS = 65535
    DATA_ERROR = 1100
    EXPR_ERROR = 1100
    METRIC_MISMATCH = 1100
    DATABASE_LOCKED = 2000
    STORAGE_ERROR = 2001
    READ_ONLY = 2002
    WRONG_PROCESS = 2003
    NOT_SUPPORTED = 3000  # merr.ErrOperationNotSupported
    DATABASE_NOT_FOUND = 800  # merr.ErrDatabaseNotFound
    DATABASE_INVALID_NAME = 802  # merr.ErrDatabaseInvalidName


class MilvusException(Exception):
    """Base class: carries a Milvus-style ``code`` and ``message``.

    When pymilvus is imported in the process, each error is raised as an instance of a subclass
    that also derives from ``pymilvus.exceptions.MilvusException`` (``ParamError`` and its
    family also from ``pymilvus.exceptions.ParamError``), so code written for pymilvus catches
    embedb's errors unchanged. ``except`` matches by real subclassing, hence the subclass; it is
    made on first use and only if the caller already imported pymilvus (code that names
    pymilvus's exceptions has), so ``import embedb`` never imports pymilvus.
    """

    default_code = ErrorCode.UNEXPECTED_ERROR
    _pymilvus_base = "MilvusException"   # the pymilvus.exceptions class to bridge to

    def __new__(cls, *args, **kwargs):
        return super().__new__(_bridged(cls), *args)   # keywords go to __init__ only

    def __init__(self, message: str = "", code: int | None = None) -> None:
        self._code = self.default_code if code is None else code
        self._message = message
        # the rest of pymilvus's MilvusException state, for code that reads it
        self._compatible_code = 1
        self._is_input_error = isinstance(self, ParamError)
        self._retriable = False
        # not super(): in a bridged class the next __init__ may be pymilvus's (code, message)
        Exception.__init__(self, message)

    @property
    def code(self) -> int:
        return self._code

    @code.setter
    def code(self, value: int) -> None:
        self._code = value

    @property
    def message(self) -> str:
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        self._message = value

    def __str__(self) -> str:
        return f"<{type(self).__name__}: (code={self.code}, message={self.message})>"

    def __reduce__(self):   # pickle as the plain embedb class (the bridge is per process)
        return _rebuild, (_plain(type(self)), self.args, self.__dict__)


_BRIDGES: dict[type, type] = {}


def _plain(cls: type) -> type:
    return getattr(cls, "_embedb_class", cls)


def _rebuild(cls: type, args: tuple, state: dict) -> "MilvusException":
    err = cls.__new__(cls, *args)
    err.args = args
    err.__dict__.update(state)
    return err


def _bridged(cls: type) -> type:
    """``cls``, or (when pymilvus is imported) its subclass that is also pymilvus's exception."""
    cls = _plain(cls)
    bridge = _BRIDGES.get(cls)
    if bridge is not None:
        return bridge
    import sys

    pm = sys.modules.get("pymilvus.exceptions")
    base = getattr(pm, cls._pymilvus_base, None) if pm is not None else None
    if base is None or issubclass(cls, base):
        return cls
    bridge = type(cls.__name__, (cls, base), {"__module__": cls.__module__,
                                              "__qualname__": cls.__qualname__,
                                              "_embedb_class": cls})
    _BRIDGES[cls] = bridge
    return bridge


class ParamError(MilvusException, ValueError):
    """A call argument is invalid (wrong type, out of range, conflicting options)."""

    default_code = ErrorCode.PARAM_ERROR
    _pymilvus_base = "ParamError"


class DataError(ParamError):
    """A row of data is invalid; the message names the field and the row."""

    default_code = ErrorCode.DATA_ERROR


class SchemaError(ParamError):
    """A schema or field definition is invalid."""


class FilterError(ParamError):
    """A filter expression is malformed or refers to an unknown field; names the position."""

    default_code = ErrorCode.EXPR_ERROR


class CollectionNotFoundError(MilvusException, KeyError):
    default_code = ErrorCode.COLLECTION_NOT_FOUND

    def __str__(self) -> str:  # KeyError would quote the message
        return MilvusException.__str__(self)


class PartitionNotFoundError(MilvusException, KeyError):
    default_code = ErrorCode.PARTITION_NOT_FOUND

    def __str__(self) -> str:
        return MilvusException.__str__(self)


class IndexNotFoundError(MilvusException, KeyError):
    default_code = ErrorCode.INDEX_NOT_FOUND

    def __str__(self) -> str:
        return MilvusException.__str__(self)


class AliasNotFoundError(MilvusException, KeyError):
    default_code = ErrorCode.ALIAS_NOT_FOUND

    def __str__(self) -> str:
        return MilvusException.__str__(self)


class DatabaseNotFoundError(MilvusException, KeyError):
    default_code = ErrorCode.DATABASE_NOT_FOUND

    def __str__(self) -> str:
        return MilvusException.__str__(self)


class AlreadyExistsError(MilvusException, ValueError):
    default_code = ErrorCode.ALREADY_EXISTS


class CollectionNotLoadedError(MilvusException, RuntimeError):
    default_code = ErrorCode.COLLECTION_NOT_LOADED


class DatabaseLockedError(MilvusException, RuntimeError):
    """Another process holds the write lock; the message names the holder (pid, host)."""

    default_code = ErrorCode.DATABASE_LOCKED


class ForeignProcessError(MilvusException, RuntimeError):
    """A database handle was used in another process than the one that opened it (a fork()
    child); the message says to open the database in that process."""

    default_code = ErrorCode.WRONG_PROCESS


class ReadOnlyError(MilvusException, PermissionError):
    """A write was attempted on a database opened read-only."""

    default_code = ErrorCode.READ_ONLY


class StorageError(MilvusException, OSError):
    """The on-disk database is damaged or cannot be written."""

    default_code = ErrorCode.STORAGE_ERROR


class MissingDependencyError(MilvusException, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def missing_dependency(module: str, extra: str) -> MissingDependencyError:
    return MissingDependencyError(
        f"{module!r} is required for this feature but is not installed; "
        f'install it with: pip install "embedb[{extra}]"'
    )
