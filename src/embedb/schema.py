"""Schema objects with the names and shapes of pymilvus: DataType, FieldSchema, CollectionSchema,
Function/FunctionType and IndexParams.

These are plain data holders. ``to_dict``/``from_dict`` give the JSON form the engine persists and
``describe_collection`` returns.
"""

from __future__ import annotations

import copy
from enum import IntEnum
from typing import Any, Iterable

from .errors import ErrorCode, ParamError, SchemaError


class DataType(IntEnum):
    NONE = 0
    BOOL = 1
    INT8 = 2
    INT16 = 3
    INT32 = 4
    INT64 = 5
    FLOAT = 10
    DOUBLE = 11
    STRING = 20
    VARCHAR = 21
    TEXT = 25
    ARRAY = 22
    JSON = 23
    GEOMETRY = 24
    TIMESTAMPTZ = 26
    BINARY_VECTOR = 100
    FLOAT_VECTOR = 101
    FLOAT16_VECTOR = 102
    BFLOAT16_VECTOR = 103
    SPARSE_FLOAT_VECTOR = 104
    INT8_VECTOR = 105
    STRUCT = 201
    # pymilvus marks these two "internal use only"; named here so code naming them imports
    _ARRAY_OF_VECTOR = 106
    _ARRAY_OF_STRUCT = 200
    UNKNOWN = 999

    def __repr__(self) -> str:
        return f"<DataType: {self.name}>"

    __str__ = __repr__

    @property
    def is_vector(self) -> bool:
        return self in VECTOR_TYPES

    @property
    def is_dense_vector(self) -> bool:
        return self in DENSE_VECTOR_TYPES

    @property
    def is_integer(self) -> bool:
        return self in INTEGER_TYPES


INTEGER_TYPES = frozenset({DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64})
FLOAT_TYPES = frozenset({DataType.FLOAT, DataType.DOUBLE})
NUMERIC_TYPES = INTEGER_TYPES | FLOAT_TYPES
DENSE_VECTOR_TYPES = frozenset(
    {
        DataType.FLOAT_VECTOR,
        DataType.FLOAT16_VECTOR,
        DataType.BFLOAT16_VECTOR,
        DataType.BINARY_VECTOR,
        DataType.INT8_VECTOR,
    }
)
VECTOR_TYPES = DENSE_VECTOR_TYPES | {DataType.SPARSE_FLOAT_VECTOR}
SCALAR_TYPES = frozenset(
    {DataType.BOOL, DataType.VARCHAR, DataType.STRING, DataType.JSON, DataType.ARRAY,
     DataType.TIMESTAMPTZ, DataType.GEOMETRY}
) | NUMERIC_TYPES
ARRAY_ELEMENT_TYPES = frozenset({DataType.BOOL, DataType.VARCHAR}) | NUMERIC_TYPES
# pymilvus 3 types that embedb names but does not store: a "not supported" error at schema time
UNSUPPORTED_TYPES = frozenset(
    {DataType.TEXT, DataType.STRUCT, DataType._ARRAY_OF_VECTOR, DataType._ARRAY_OF_STRUCT}
)


def to_datatype(value: Any) -> DataType:
    """Accept a DataType, its name ("INT64", "int64") or its integer value."""
    if isinstance(value, DataType):
        return value
    if isinstance(value, str):
        try:
            return DataType[value.upper()]
        except KeyError:
            raise ParamError(f"unknown data type {value!r}") from None
    try:
        return DataType(int(value))
    except (ValueError, TypeError):
        raise ParamError(f"unknown data type {value!r}") from None


class FunctionType(IntEnum):
    UNKNOWN = 0
    BM25 = 1
    TEXTEMBEDDING = 2
    RERANK = 3
    MINHASH = 4


# Keyword arguments of add_field that land in FieldSchema.params (type parameters).
_TYPE_PARAM_KEYS = (
    "max_length",
    "dim",
    "max_capacity",
    "enable_analyzer",
    "analyzer_params",
    "multi_analyzer_params",
    "enable_match",
    "mmap_enabled",
)


def _refuse_unsupported(field: str, dtype: DataType, element_type: DataType | None) -> None:
    """TEXT, STRUCT and the array-of-struct/vector types: Milvus's "unsupported operation" (3000)."""
    if dtype in UNSUPPORTED_TYPES or element_type in UNSUPPORTED_TYPES:
        what = dtype.name if dtype in UNSUPPORTED_TYPES else f"ARRAY of {element_type.name}"
        raise SchemaError(f"field {field!r}: data type {what} is not supported by embedb "
                          f"(see docs/api.md, Data types)", code=ErrorCode.NOT_SUPPORTED)


class StructFieldSchema:
    """pymilvus's struct schema for arrays of structs; embedb does not store structs, so making
    one raises the "not supported" error where the struct is declared."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _refuse_unsupported("<struct>", DataType.STRUCT, None)


class IndexType(IntEnum):
    """pymilvus's legacy ``IndexType`` (same names and values); index types are passed by name."""

    INVALID = 0
    FLAT = 1
    IVFLAT = 2
    IVF_SQ8 = 3
    RNSG = 4
    IVF_SQ8H = 5
    IVF_PQ = 6
    HNSW = 11
    ANNOY = 12
    IVF_FLAT = IVFLAT
    IVF_SQ8_H = IVF_SQ8H

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self._name_}>"

    def __str__(self) -> str:
        return self._name_


class MetricType(IntEnum):
    """pymilvus's legacy ``MetricType`` (same names and values); metrics are passed by name."""

    INVALID = 0
    L2 = 1
    IP = 2
    HAMMING = 3
    JACCARD = 4
    TANIMOTO = 5
    SUBSTRUCTURE = 6
    SUPERSTRUCTURE = 7

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self._name_}>"

    def __str__(self) -> str:
        return self._name_


class _Record:
    """Equality and repr through ``to_dict()``, the form that is persisted and described."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self)) and self.to_dict() == other.to_dict()

    __hash__ = None  # mutable, compared by value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"


class FieldSchema(_Record):
    def __init__(
        self,
        name: str,
        dtype: Any,
        description: str = "",
        *,
        is_primary: bool = False,
        auto_id: bool = False,
        nullable: bool = False,
        default_value: Any = None,
        is_partition_key: bool = False,
        is_clustering_key: bool = False,
        is_dynamic: bool = False,
        is_function_output: bool = False,
        element_type: Any = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise SchemaError(f"field name must be a non-empty string, got {name!r}")
        self.name = name
        self.dtype = to_datatype(dtype)
        self.description = description
        self.is_primary = bool(is_primary)
        self.auto_id = bool(auto_id)
        self.nullable = bool(nullable)
        self.default_value = default_value
        self.is_partition_key = bool(is_partition_key)
        self.is_clustering_key = bool(is_clustering_key)
        self.is_dynamic = bool(is_dynamic)
        self.is_function_output = bool(is_function_output)
        self.element_type = to_datatype(element_type) if element_type is not None else None
        _refuse_unsupported(name, self.dtype, self.element_type)
        unknown = set(kwargs) - set(_TYPE_PARAM_KEYS) - {"params"}
        if unknown:
            raise SchemaError(f"field {name!r}: unknown field parameter(s) {sorted(unknown)}")
        params = dict(kwargs.pop("params", None) or {})
        params.update(kwargs)
        self.params: dict[str, Any] = params
        for key in ("max_length", "dim", "max_capacity"):
            if key in self.params and self.params[key] is not None:
                try:
                    self.params[key] = int(self.params[key])
                except (TypeError, ValueError):
                    raise SchemaError(f"field {name!r}: {key} must be an integer") from None

    # Convenience accessors -------------------------------------------------------------
    @property
    def dim(self) -> int | None:
        return self.params.get("dim")

    @property
    def max_length(self) -> int | None:
        return self.params.get("max_length")

    @property
    def max_capacity(self) -> int | None:
        return self.params.get("max_capacity")

    def verify(self) -> None:
        """Raise SchemaError if the field definition is not valid on its own."""
        t = self.dtype
        if t in (DataType.NONE, DataType.UNKNOWN, DataType.STRING):
            raise SchemaError(f"field {self.name!r}: data type {t.name} is not supported")
        _refuse_unsupported(self.name, t, self.element_type)
        if t == DataType.TIMESTAMPTZ and self.default_value is not None:
            from .timestamptz import check_default

            check_default(self)
        if t == DataType.GEOMETRY and self.default_value is not None:
            from .geometry import check_default as check_geometry_default

            check_geometry_default(self)
        if t.is_dense_vector:
            dim = self.dim
            if dim is None or dim <= 0 or dim > 32768:
                raise SchemaError(
                    f"field {self.name!r}: {t.name} needs a dim between 1 and 32768, got {dim}"
                )
            if t == DataType.BINARY_VECTOR and dim % 8:
                raise SchemaError(f"field {self.name!r}: BINARY_VECTOR dim must be a multiple of 8")
        if t == DataType.VARCHAR:
            ml = self.max_length
            if ml is None or ml <= 0 or ml > 65535:
                raise SchemaError(
                    f"field {self.name!r}: VARCHAR needs max_length between 1 and 65535, got {ml}"
                )
        if t == DataType.ARRAY:
            if self.element_type is None or self.element_type not in ARRAY_ELEMENT_TYPES:
                raise SchemaError(
                    f"field {self.name!r}: ARRAY needs element_type, one of "
                    f"{sorted(e.name for e in ARRAY_ELEMENT_TYPES)}"
                )
            cap = self.max_capacity
            if cap is None or cap <= 0 or cap > 4096:
                raise SchemaError(
                    f"field {self.name!r}: ARRAY needs max_capacity between 1 and 4096, got {cap}"
                )
            if self.element_type == DataType.VARCHAR and not self.max_length:
                raise SchemaError(f"field {self.name!r}: ARRAY of VARCHAR needs max_length")
        if self.is_primary:
            if t not in (DataType.INT64, DataType.VARCHAR):
                raise SchemaError(
                    f"field {self.name!r}: the primary key must be INT64 or VARCHAR, got {t.name}"
                )
            if self.nullable:
                raise SchemaError(f"field {self.name!r}: the primary key cannot be nullable")
        if self.auto_id and not self.is_primary:
            raise SchemaError(f"field {self.name!r}: auto_id is only allowed on the primary key")
        if self.auto_id and t not in (DataType.INT64, DataType.VARCHAR):  # VARCHAR: ids as text
            raise SchemaError(f"field {self.name!r}: auto_id needs an INT64 or VARCHAR primary key")
        if t.is_vector and self.default_value is not None:  # nullable vectors are allowed (2.6)
            raise SchemaError(f"field {self.name!r}: vector fields cannot have a default_value")
        if self.is_partition_key and t not in (DataType.INT64, DataType.VARCHAR):
            raise SchemaError(f"field {self.name!r}: a partition key must be INT64 or VARCHAR")
        if self.params.get("enable_match") and not self.params.get("enable_analyzer"):
            if t != DataType.VARCHAR:
                raise SchemaError(f"field {self.name!r}: enable_match needs a VARCHAR field")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "description": self.description, "type": self.dtype}
        if self.params:
            d["params"] = copy.deepcopy(self.params)
        if self.is_primary:
            d["is_primary"] = True
        if self.auto_id:
            d["auto_id"] = True
        if self.nullable:
            d["nullable"] = True
        if self.default_value is not None:
            d["default_value"] = self.default_value
        if self.is_partition_key:
            d["is_partition_key"] = True
        if self.is_clustering_key:
            d["is_clustering_key"] = True
        if self.is_dynamic:
            d["is_dynamic"] = True
        if self.is_function_output:
            d["is_function_output"] = True
        if self.element_type is not None:
            d["element_type"] = self.element_type
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FieldSchema":
        d = dict(d)
        kwargs: dict[str, Any] = {}
        for key in (
            "description",
            "is_primary",
            "auto_id",
            "nullable",
            "default_value",
            "is_partition_key",
            "is_clustering_key",
            "is_dynamic",
            "is_function_output",
            "element_type",
        ):
            if key in d:
                kwargs[key] = d[key]
        dtype = d.get("type", d.get("dtype"))
        params = dict(d.get("params") or {})
        for key in _TYPE_PARAM_KEYS:  # accept flat keys too
            if key in d:
                params[key] = d[key]
        return cls(d["name"], dtype, params=params, **kwargs)



class Function(_Record):
    """A schema function, e.g. BM25 from a VARCHAR field to a SPARSE_FLOAT_VECTOR field."""

    def __init__(
        self,
        name: str,
        function_type: Any,
        input_field_names: str | Iterable[str],
        output_field_names: str | Iterable[str] | None = None,
        description: str = "",
        params: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.type = FunctionType(int(function_type)) if not isinstance(function_type, FunctionType) else function_type
        self.input_field_names = [input_field_names] if isinstance(input_field_names, str) else list(input_field_names)
        if output_field_names is None:
            output_field_names = []
        self.output_field_names = [output_field_names] if isinstance(output_field_names, str) else list(output_field_names)
        self.description = description
        self.params = dict(params or {})

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "input_field_names": list(self.input_field_names),
            "output_field_names": list(self.output_field_names),
            "params": copy.deepcopy(self.params),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Function":
        return cls(
            d["name"],
            d["type"],
            d["input_field_names"],
            d.get("output_field_names"),
            d.get("description", ""),
            d.get("params"),
        )



def _verify_text_embedding(fn: Function, names: dict, outputs: set) -> None:
    """Milvus 2.6's limits: one VARCHAR input that is never null, one FLOAT_VECTOR or
    INT8_VECTOR output; the provider's params are checked by embedb.functions."""
    if len(fn.input_field_names) != 1 or len(fn.output_field_names) != 1:
        raise SchemaError(f"function {fn.name!r}: TEXTEMBEDDING takes one input and one output field")
    src = names.get(fn.input_field_names[0])
    dst = names.get(fn.output_field_names[0])
    if src is None or src.dtype != DataType.VARCHAR:
        raise SchemaError(f"function {fn.name!r}: input must be an existing VARCHAR field, got "
                          f"{fn.input_field_names[0]!r}")
    if src.nullable:
        raise SchemaError(f"function {fn.name!r}: input field {src.name!r} cannot be nullable "
                          "(every row's text is embedded)")
    if dst is None or dst.dtype not in (DataType.FLOAT_VECTOR, DataType.INT8_VECTOR):
        raise SchemaError(f"function {fn.name!r}: output must be an existing FLOAT_VECTOR or "
                          f"INT8_VECTOR field, got {fn.output_field_names[0]!r}")
    if dst.nullable:
        raise SchemaError(f"function {fn.name!r}: output field {dst.name!r} cannot be nullable")
    if dst.name in outputs:
        raise SchemaError(f"field {dst.name!r} is the output of more than one function")
    from .functions.embedding import check_params

    check_params(fn)
    outputs.add(dst.name)
    dst.is_function_output = True


class CollectionSchema(_Record):
    def __init__(
        self,
        fields: Iterable[FieldSchema] | None = None,
        description: str = "",
        *,
        auto_id: bool | None = None,
        enable_dynamic_field: bool = False,
        primary_field: str | None = None,
        partition_key_field: str | None = None,
        functions: Iterable[Function] | None = None,
        **kwargs: Any,
    ) -> None:
        self.fields: list[FieldSchema] = []
        self.description = description
        self.enable_dynamic_field = bool(enable_dynamic_field or kwargs.pop("enable_dynamic", False))
        self.functions: list[Function] = list(functions or [])
        self._auto_id = auto_id
        self._primary_field = primary_field
        self._partition_key_field = partition_key_field
        if kwargs:  # pymilvus keeps unknown schema keywords (timeout=...) and goes on: so do we
            from .lenient import warn_unknown

            warn_unknown("CollectionSchema", kwargs)
        for f in fields or []:
            self._append(f)

    # pymilvus-compatible builders ---------------------------------------------------------
    def add_field(self, field_name: str, datatype: Any, **kwargs: Any) -> "CollectionSchema":
        if field_name == self._primary_field:
            kwargs.setdefault("is_primary", True)
        if field_name == self._partition_key_field:
            kwargs.setdefault("is_partition_key", True)
        if kwargs.get("is_primary") and self._auto_id is not None:
            kwargs.setdefault("auto_id", self._auto_id)
        self._append(FieldSchema(field_name, datatype, **kwargs))
        return self

    def add_function(self, function: Function) -> "CollectionSchema":
        if any(f.name == function.name for f in self.functions):
            raise SchemaError(f"duplicate function name {function.name!r}")
        self.functions.append(function)
        return self

    def _append(self, field: FieldSchema) -> None:
        if any(f.name == field.name for f in self.fields):
            raise SchemaError(f"duplicate field name {field.name!r}")
        self.fields.append(field)

    # Accessors ----------------------------------------------------------------------------
    @property
    def primary_field(self) -> FieldSchema | None:
        for f in self.fields:
            if f.is_primary:
                return f
        return None

    @property
    def auto_id(self) -> bool:
        pk = self.primary_field
        return bool(pk.auto_id) if pk else bool(self._auto_id)

    @property
    def partition_key_field(self) -> FieldSchema | None:
        for f in self.fields:
            if f.is_partition_key:
                return f
        return None

    def field(self, name: str) -> FieldSchema | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def verify(self) -> None:
        """Raise SchemaError unless this is a complete, valid collection schema."""
        primaries = [f for f in self.fields if f.is_primary]
        if len(primaries) != 1:
            raise SchemaError(
                f"a schema needs exactly one primary key field, found {len(primaries)}"
            )
        if not any(f.dtype.is_vector for f in self.fields):
            raise SchemaError("a schema needs at least one vector field")
        if sum(f.is_partition_key for f in self.fields) > 1:
            raise SchemaError("a schema may have at most one partition key field")
        for f in self.fields:
            f.verify()
            if f.name == "$meta" or f.name.startswith("$"):
                raise SchemaError(f"field name {f.name!r} is reserved")
        names = {f.name: f for f in self.fields}
        outputs: set[str] = set()
        for fn in self.functions:
            if fn.type == FunctionType.TEXTEMBEDDING:
                _verify_text_embedding(fn, names, outputs)
                continue
            if fn.type != FunctionType.BM25:
                raise SchemaError(
                    f"function {fn.name!r}: only FunctionType.BM25 and TEXTEMBEDDING run in a "
                    f"schema; got {fn.type.name}"
                )
            if len(fn.input_field_names) != 1 or len(fn.output_field_names) != 1:
                raise SchemaError(f"function {fn.name!r}: BM25 takes one input and one output field")
            src = names.get(fn.input_field_names[0])
            dst = names.get(fn.output_field_names[0])
            if src is None or src.dtype != DataType.VARCHAR:
                raise SchemaError(f"function {fn.name!r}: input must be an existing VARCHAR field")
            if not src.params.get("enable_analyzer"):
                raise SchemaError(
                    f"function {fn.name!r}: input field {src.name!r} needs enable_analyzer=True"
                )
            if dst is None or dst.dtype != DataType.SPARSE_FLOAT_VECTOR:
                raise SchemaError(
                    f"function {fn.name!r}: output must be an existing SPARSE_FLOAT_VECTOR field"
                )
            if dst.nullable:
                raise SchemaError(f"function {fn.name!r}: output field {dst.name!r} cannot be nullable")
            if dst.name in outputs:
                raise SchemaError(f"field {dst.name!r} is the output of more than one function")
            outputs.add(dst.name)
            dst.is_function_output = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "auto_id": self.auto_id,
            "enable_dynamic_field": self.enable_dynamic_field,
            "fields": [f.to_dict() for f in self.fields],
            "functions": [fn.to_dict() for fn in self.functions],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CollectionSchema":
        return cls(
            [FieldSchema.from_dict(f) for f in d.get("fields", [])],
            d.get("description", ""),
            enable_dynamic_field=d.get("enable_dynamic_field", False),
            functions=[Function.from_dict(fn) for fn in d.get("functions", [])],
        )



class IndexParam(_Record):
    """One index definition: field, type, metric and build parameters."""

    def __init__(
        self,
        field_name: str,
        index_type: str = "",
        index_name: str = "",
        metric_type: str | None = None,
        params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        from .lenient import enum_text   # pymilvus's IndexType / MetricType members too

        index_type, metric_type = enum_text(index_type), enum_text(metric_type)
        self.field_name = field_name
        self.index_type = str(index_type or "").upper()
        self.index_name = index_name or field_name
        self.metric_type = metric_type.upper() if isinstance(metric_type, str) else metric_type
        merged = dict(params or {})
        merged.update(kwargs)
        # pymilvus flattens params into the config; accept a nested "params" too.
        merged.pop("index_type", None)
        if "metric_type" in merged and self.metric_type is None:
            self.metric_type = str(enum_text(merged.pop("metric_type"))).upper()
        merged.pop("metric_type", None)
        self.params = merged

    def to_dict(self) -> dict[str, Any]:
        return {
            "field_name": self.field_name,
            "index_type": self.index_type,
            "index_name": self.index_name,
            "metric_type": self.metric_type,
            "params": copy.deepcopy(self.params),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "IndexParam":
        return cls(d["field_name"], d.get("index_type", ""), d.get("index_name", ""), d.get("metric_type"), d.get("params"))



class IndexParams(list):
    """What ``MilvusClient.prepare_index_params()`` returns: a list of IndexParam."""

    def add_index(
        self,
        field_name: str,
        index_type: str = "",
        index_name: str = "",
        metric_type: str | None = None,
        params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> "IndexParams":
        self.append(IndexParam(field_name, index_type, index_name, metric_type, params, **kwargs))
        return self
