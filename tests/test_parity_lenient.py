"""Leniency where pymilvus is lenient: its enums, NumPy values, unknown keyword arguments,
describe_index of a missing index, BRUTE_FORCE, and errors caught as pymilvus's."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

from embedb import DataType, MilvusClient, ParamError
from embedb import errors as E

pymilvus = pytest.importorskip("pymilvus")
from pymilvus.client.types import MetricType as PmMetricType  # noqa: E402


@pytest.fixture()
def client():
    with MilvusClient(":memory:") as c:
        yield c


def _schema(c, dtype_module=DataType):
    s = c.create_schema(enable_dynamic_field=True)
    s.add_field("id", dtype_module.INT64, is_primary=True)
    s.add_field("v", dtype_module.FLOAT_VECTOR, dim=4)
    s.add_field("j", dtype_module.JSON)
    s.add_field("a", dtype_module.ARRAY, element_type=dtype_module.INT64, max_capacity=8)
    s.add_field("f", dtype_module.FLOAT)
    return s


def test_pymilvus_enums_accepted(client):
    client.create_collection("t", schema=_schema(client, pymilvus.DataType))
    ip = client.prepare_index_params()
    ip.add_index("v", index_type=pymilvus.IndexType.HNSW, metric_type=PmMetricType.L2,
                 params={"M": 8, "efConstruction": 32})
    client.create_index("t", ip)
    d = client.describe_index("t", "v")
    assert (d["index_type"], d["metric_type"]) == ("HNSW", "L2")
    client.insert("t", [{"id": 1, "v": [0.1] * 4, "j": {}, "a": [], "f": 1.0}])
    client.load_collection("t")
    hits = client.search("t", [[0.1] * 4], limit=1, search_params={"metric_type": PmMetricType.L2})
    assert hits[0][0]["id"] == 1
    # IndexType.IVFLAT is pymilvus's spelling of IVF_FLAT
    ip = client.prepare_index_params()
    ip.add_index("v", index_type=pymilvus.IndexType.IVFLAT, metric_type="L2", params={"nlist": 4})
    assert ip[0].index_type == "IVF_FLAT"


def test_numpy_values_everywhere(client):
    client.create_collection("t", schema=_schema(client))
    rng = np.random.default_rng(0)
    rows = [{"id": np.int64(i), "v": rng.random(4).astype(np.float32),
             "j": {"x": np.int32(i), "y": np.float64(0.5), "z": np.arange(2), "ok": np.bool_(True)},
             "a": np.array([i, i + 1]), "f": np.float32(1.5), "dyn": np.int64(i * 10),
             "dyn_list": np.array([1.0, 2.0])} for i in range(6)]
    assert client.insert("t", rows)["insert_count"] == 6
    ip = client.prepare_index_params()
    ip.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_index("t", ip)
    client.load_collection("t")
    got = client.query("t", "id == 2", output_fields=["j", "a", "dyn", "dyn_list"])[0]
    assert got["j"] == {"x": 2, "y": 0.5, "z": [0, 1], "ok": True}
    assert got["a"] == [2, 3] and got["dyn"] == 20 and got["dyn_list"] == [1.0, 2.0]
    assert [r["id"] for r in client.query("t", "id in {ids}", filter_params={"ids": np.array([1, 3])},
                                          limit=np.int64(5))] == [1, 3]
    assert [r["id"] for r in client.query("t", "dyn > {x}", filter_params={"x": np.int64(30)},
                                          limit=10)] == [4, 5]
    assert [r["id"] for r in client.get("t", ids=np.array([4, 0]))] == [4, 0]
    res = client.search("t", np.stack([rows[5]["v"]]), limit=np.int64(2))
    assert res[0][0]["id"] == 5
    assert client.delete("t", ids=np.array([0, 1]))["delete_count"] == 2


def test_unknown_keyword_arguments_warn_once_never_raise(client):
    client.create_collection("t", dimension=2)
    client.insert("t", [{"id": 1, "vector": [0.0, 1.0]}], timeout=3, some_future_option=1)
    with pytest.warns(UserWarning, match="made_up") as record:
        client.search("t", [[0.0, 1.0]], limit=1, consistency_level="Strong",
                      guarantee_timestamp=1, timeout=5, made_up=True)
    assert len([w for w in record if "made_up" in str(w.message)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # a second use does not warn again
        client.search("t", [[0.0, 1.0]], limit=1, made_up=True)
        client.query("t", "id >= 0", limit=1, consistency_level="Eventually", timeout=1)
    with pytest.warns(UserWarning, match="novel"):
        assert client.query("t", "id >= 0", limit=1, novel=1)[0]["id"] == 1


def test_describe_missing_index_and_brute_force(client):
    client.create_collection("t", schema=_schema(client))
    assert client.describe_index("t", "nope") is None
    ip = client.prepare_index_params()
    ip.add_index("v", index_type="BRUTE_FORCE", metric_type="IP")
    client.create_index("t", ip)
    assert client.describe_index("t", "v")["index_type"] == "FLAT"


def test_unknown_index_type_lists_autoindex_once(client):
    client.create_collection("t", schema=_schema(client))
    ip = client.prepare_index_params()
    ip.add_index("v", index_type="NOPE", metric_type="L2")
    with pytest.raises(ParamError) as err:
        client.create_index("t", ip)
    assert str(err.value).count("AUTOINDEX") == 1


def test_errors_are_caught_as_pymilvus_exceptions(client):
    from pymilvus.exceptions import MilvusException as PmException
    from pymilvus.exceptions import ParamError as PmParamError

    with pytest.raises(PmException) as err:
        client.query("missing", "")
    assert err.value.code == 100 and isinstance(err.value, E.CollectionNotFoundError)
    assert isinstance(err.value, KeyError)                   # the builtin still matches
    with pytest.raises(PmParamError) as err:
        client.create_collection("t", dimension=0)
    assert isinstance(err.value, ValueError) and err.value.code == 1100
    err = E.StorageError("disk full")
    assert isinstance(err, (PmException, OSError)) and err.message == "disk full"
    back = pickle.loads(pickle.dumps(E.ParamError("p", code=7)))
    assert type(back).__name__ == "ParamError" and (back.code, back.message) == (7, "p")


def test_import_embedb_does_not_import_pymilvus():
    code = ("import sys, embedb\nfrom embedb import MilvusClient\n"
            "c = MilvusClient(':memory:')\n"
            "try:\n    c.query('x', '')\nexcept embedb.MilvusException:\n    pass\n"
            "print('pymilvus' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_pymilvus_schema_and_index_params_accepted(client):
    from pymilvus import CollectionSchema, FieldSchema
    from pymilvus.milvus_client.index import IndexParams as PmIndexParams

    schema = CollectionSchema([
        FieldSchema("pk", pymilvus.DataType.VARCHAR, is_primary=True, max_length=16),
        FieldSchema("name", pymilvus.DataType.VARCHAR, max_length=32, nullable=True,
                    default_value="anon"),
        FieldSchema("tags", pymilvus.DataType.ARRAY, element_type=pymilvus.DataType.INT64,
                    max_capacity=4),
        FieldSchema("e", pymilvus.DataType.FLOAT_VECTOR, dim=3),
    ], enable_dynamic_field=True)
    ip = PmIndexParams()
    ip.add_index("e", index_type="IVF_FLAT", metric_type="L2", nlist=4)
    client.create_collection("t", schema=schema, index_params=ip)
    d = client.describe_collection("t")
    assert [f["name"] for f in d["fields"]] == ["pk", "name", "tags", "e"]
    assert d["enable_dynamic_field"] is True
    idx = client.describe_index("t", "e")
    assert (idx["index_type"], idx["metric_type"], idx["nlist"]) == ("IVF_FLAT", "L2", 4)
    client.insert("t", [{"pk": "a", "tags": [1], "e": [0.0, 0.0, 1.0]}])
    client.load_collection("t")
    assert client.query("t", "pk == 'a'", output_fields=["name"])[0]["name"] == "anon"


def test_quick_mode_metric_enum_and_numpy_limits(client):
    client.create_collection("q", dimension=4, metric_type=PmMetricType.L2)
    assert client.describe_index("q", "vector")["metric_type"] == "L2"
    client.insert("q", [{"id": i, "vector": np.full(4, float(i))} for i in range(5)])
    hits = client.search("q", np.ones((1, 4)), limit=np.int32(2), offset=np.int64(1),
                         round_decimal=np.int64(2), group_by_field="id", group_size=np.int64(1))
    assert [h["id"] for h in hits[0]] == [0, 2]
    assert [r["id"] for r in client.query("q", "id >= 0", limit=np.int64(2), offset=np.int64(1))] == [1, 2]


def test_create_collection_accepts_unknown_keywords(client):
    # pymilvus passes unknown keywords on to the server unchecked; embedb warns once
    with pytest.warns(UserWarning, match="bogus_option"):
        client.create_collection("c", dimension=4, bogus_option=1, num_shards=2, timeout=3)
    assert client.has_collection("c")


def test_index_properties_are_kept_and_persisted(tmp_path):
    path = str(tmp_path / "db")
    with MilvusClient(path) as c:
        c.create_collection("c", dimension=4)
        c.release_collection("c")
        c.alter_index_properties("c", "vector", properties={"mmap.enabled": True})
        assert c.describe_index("c", "vector")["mmap.enabled"] == "True"
        with pytest.raises(E.IndexNotFoundError):
            c.alter_index_properties("c", "nope", properties={"mmap.enabled": True})
    with MilvusClient(path) as c:
        assert c.describe_index("c", "vector")["mmap.enabled"] == "True"
        c.drop_index_properties("c", "vector", property_keys=["mmap.enabled"])
        assert "mmap.enabled" not in c.describe_index("c", "vector")
        assert c._using == MilvusClient(path)._using      # one shared database per path
