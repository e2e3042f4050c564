"""Errors -> Milvus ``common.Status``: the code pymilvus raises as ``MilvusException.code``
plus the legacy ``error_code`` enum older clients (and ``has_collection``) still read."""

from __future__ import annotations

from pymilvus.grpc_gen import common_pb2

from ..errors import ErrorCode, MilvusException

NOT_SUPPORTED = 3000  # merr.ErrOperationNotSupported: "unsupported operation"

_LEGACY = {
    ErrorCode.COLLECTION_NOT_FOUND: common_pb2.CollectionNotExists,
    ErrorCode.INDEX_NOT_FOUND: common_pb2.IndexNotExist,
    ErrorCode.PARAM_ERROR: common_pb2.IllegalArgument,
}

OK = common_pb2.Status(code=0, error_code=common_pb2.Success)
# Search answers carry the server's cost report (embedb has no resource units: 0), so
# pymilvus's SearchResult.extra has "cost" as against a Milvus server.
OK_WITH_COST = common_pb2.Status(code=0, error_code=common_pb2.Success,
                                 extra_info={"report_value": "0"})


def status(code: int, reason: str) -> common_pb2.Status:
    return common_pb2.Status(code=int(code), reason=reason,
                             error_code=_LEGACY.get(int(code), common_pb2.UnexpectedError))


def from_exception(exc: BaseException) -> common_pb2.Status:
    """A status for an exception raised while serving a call. embedb errors keep their code and
    message; the builtin errors bad input raises (TypeError, ValueError...) are parameter errors."""
    if isinstance(exc, MilvusException):
        code = getattr(exc, "code", ErrorCode.UNEXPECTED_ERROR)
        message = getattr(exc, "message", "") or str(exc)
        return status(code, message)
    if isinstance(exc, (TypeError, ValueError, KeyError, IndexError, OverflowError,
                        UnicodeError)):
        return status(ErrorCode.PARAM_ERROR, f"invalid request: {type(exc).__name__}: {exc}")
    return status(ErrorCode.UNEXPECTED_ERROR, f"internal error: {type(exc).__name__}: {exc}")


def not_supported(method: str, detail: str = "") -> common_pb2.Status:
    reason = f"unsupported operation: embedb does not support {method}"
    return status(NOT_SUPPORTED, reason + (f" ({detail})" if detail else ""))
