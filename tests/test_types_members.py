"""embedb's enums name every member pymilvus 3's do, and the types embedb does not store fail
with Milvus's "not supported" code where the schema is written."""

import pytest

import embedb
from embedb import DataType, FieldSchema, FunctionType, IndexType, MetricType
from embedb.errors import ErrorCode, SchemaError

pymilvus = pytest.importorskip("pymilvus")


@pytest.mark.parametrize("ours, theirs", [
    (DataType, pymilvus.DataType),
    (FunctionType, pymilvus.FunctionType),
    (IndexType, pymilvus.IndexType),
    (MetricType, pymilvus.client.types.MetricType),
])
def test_enum_members_match_pymilvus(ours, theirs):
    assert {m.name: int(m) for m in theirs} == {m.name: int(m) for m in ours}
    for name in theirs.__members__:  # aliases too (IndexType.IVF_FLAT)
        assert int(getattr(ours, name)) == int(getattr(theirs, name))


def test_top_level_names_import():
    for name in ("IndexType", "MetricType", "StructFieldSchema", "DataType", "FunctionType"):
        assert name in dir(embedb)
        getattr(embedb, name)


def test_pymilvus_datatype_values_convert():
    assert FieldSchema("t", pymilvus.DataType.TIMESTAMPTZ).dtype is DataType.TIMESTAMPTZ
    assert FieldSchema("g", "geometry").dtype is DataType.GEOMETRY


@pytest.mark.parametrize("kwargs", [
    {"dtype": DataType.TEXT},
    {"dtype": DataType.STRUCT},
    {"dtype": DataType._ARRAY_OF_VECTOR},
    {"dtype": DataType._ARRAY_OF_STRUCT},
    {"dtype": DataType.ARRAY, "element_type": DataType.STRUCT, "max_capacity": 4},
])
def test_unsupported_types_fail_at_add_field(kwargs):
    client = embedb.MilvusClient(":memory:")
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    dtype = kwargs.pop("dtype")
    with pytest.raises(SchemaError) as info:
        schema.add_field("x", dtype, **kwargs)
    assert info.value.code == ErrorCode.NOT_SUPPORTED == 3000
    assert "not supported" in info.value.message and "'x'" in info.value.message
    assert [f.name for f in schema.fields] == ["id"]  # nothing was added


def test_struct_field_schema_is_refused():
    with pytest.raises(SchemaError) as info:
        embedb.StructFieldSchema()
    assert info.value.code == ErrorCode.NOT_SUPPORTED


def test_unsupported_type_in_a_stored_schema_dict_is_refused():
    with pytest.raises(SchemaError):
        FieldSchema.from_dict({"name": "t", "type": int(DataType.TEXT)})
