"""``upsert(..., field_ops={field: op})``: pymilvus 3's per-field partial-update operators.

``array_append`` appends the row's elements to the stored array, ``array_remove`` removes every
stored element equal to one of the row's elements, ``replace`` (the default) writes the value
as given. An op is given as ``pymilvus.FieldOp.array_append()`` (a message with an ``op``
number), a ``FieldOpType`` number, or the string alias. A key with no stored row starts from an
empty array. Any non-replace op makes the upsert partial, as in pymilvus.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from ..errors import DataError, ParamError

_NAMES = {0: "replace", 1: "array_append", 2: "array_remove"}


class FieldOpType(IntEnum):
    """The partial-update operators, numbered as pymilvus's ``FieldOpType``."""

    REPLACE = 0
    ARRAY_APPEND = 1
    ARRAY_REMOVE = 2


class FieldOp:
    """``upsert(..., field_ops={"tags": FieldOp.array_append()})``, as pymilvus's ``FieldOp``."""

    @staticmethod
    def replace() -> FieldOpType:
        return FieldOpType.REPLACE

    @staticmethod
    def array_append() -> FieldOpType:
        return FieldOpType.ARRAY_APPEND

    @staticmethod
    def array_remove() -> FieldOpType:
        return FieldOpType.ARRAY_REMOVE


def _same(x: Any) -> Any:
    return (type(x) is bool, x)   # True and 1 are different elements


def _as_float32(x: Any) -> Any:
    import numpy as np

    return float(np.float32(x))


def normalize_field_ops(field_ops: Any) -> dict[str, str]:
    """``{field: op}`` in any pymilvus form -> ``{field: "array_append" | "array_remove"}``
    (replace entries dropped)."""
    if not field_ops:
        return {}
    if not isinstance(field_ops, dict):
        raise ParamError(f"field_ops must be a dict of field name -> op, got "
                         f"{type(field_ops).__name__}")
    out = {}
    for name, op in field_ops.items():
        if op is None:
            continue
        if isinstance(op, str):
            kind = op.lower()
            if kind not in _NAMES.values():
                raise ParamError(f"unknown field_op alias {op!r} for field {name!r}; valid: "
                                 f"{sorted(_NAMES.values())}")
        elif isinstance(op, bool):
            raise ParamError(f"unsupported field_op type bool for field {name!r}")
        else:
            number = getattr(op, "op", op)
            try:
                kind = _NAMES[int(number)]
            except (KeyError, TypeError, ValueError):
                raise ParamError(f"invalid field_op {op!r} for field {name!r}") from None
        if kind != "replace":
            out[name] = kind
    return out


def apply_field_ops(coll: Any, rows: list[dict], ops: dict[str, str]) -> list[dict]:
    """Rows with each op field replaced by its merged array (stored value op given value)."""
    from ..engine.query_ops import _TYPE_NAMES

    schema = coll.schema
    pk = schema.primary_field.name
    for name, kind in ops.items():   # the server's checks and wording
        f = schema.field(name)
        if f is None:
            raise ParamError(f"partial-update op targets field \"{name}\", which does not exist "
                             f"in collection {coll.name!r}")
        if name == pk:
            raise ParamError(f"field \"{name}\" is the primary key and cannot carry a "
                             "partial-update op")
        if f.dtype.name != "ARRAY":
            raise ParamError(f"op {kind.upper()} requires Array field, but field \"{name}\" is "
                             f"{_TYPE_NAMES.get(f.dtype.name, f.dtype.name)}")
        if not any(name in r for r in rows):
            raise ParamError(f"partial-update op targets field \"{name}\" not present in "
                             "fields_data")
    for i, r in enumerate(rows):
        if pk not in r:
            raise DataError(f"row {i}, field {pk!r}: field_ops need the primary key")
    stored = {r[pk]: r for r in coll.query("", ids=[r[pk] for r in rows],
                                            output_fields=[pk] + list(ops))}
    out = []
    for i, r in enumerate(rows):
        r = dict(r)
        base = stored.get(r[pk], {})
        for name, kind in ops.items():
            if r.get(name) is None:   # no payload for this row: its stored value stays
                r.pop(name, None)
                continue
            given = r[name]
            if given is not None and not isinstance(given, (list, tuple)):
                if hasattr(given, "tolist"):
                    given = given.tolist()
                else:
                    raise DataError(f"row {i}, field {name!r}: {kind} needs a list, got "
                                    f"{type(given).__name__}")
            given = list(given or [])
            current = list(base.get(name) or [])
            if kind == "array_append":
                r[name] = current + given
            else:   # FLOAT elements are stored as float32: compare them as float32
                same = _as_float32 if schema.field(name).element_type.name == "FLOAT" else _same
                drop = {same(x) for x in given}
                r[name] = [x for x in current if same(x) not in drop]
        out.append(r)
    return out
