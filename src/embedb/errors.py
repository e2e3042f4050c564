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


class MilvusException(Exception):
    """Base class: carries a Milvus-style ``code`` and ``message``."""

    default_code = ErrorCode.UNEXPECTED_ERROR

    def __init__(self, message: str = "", code: int | None = None) -> None:
        self.code = self.default_code if code is None else code
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return f"<{type(self).__name__}: (code={self.code}, message={self.message})>"


class ParamError(MilvusException, ValueError):
    """A call argument is invalid (wrong type, out of range, conflicting options)."""

    default_code = ErrorCode.PARAM_ERROR


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


class AlreadyExistsError(MilvusException, ValueError):
    default_code = ErrorCode.ALREADY_EXISTS


class CollectionNotLoadedError(MilvusException, RuntimeError):
    default_code = ErrorCode.COLLECTION_NOT_LOADED


class DatabaseLockedError(MilvusException, RuntimeError):
    """Another process holds the write lock; the message names the holder (pid, host)."""

    default_code = ErrorCode.DATABASE_LOCKED


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
