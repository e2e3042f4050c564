"""Integer literals at the int64 bounds: INT64_MIN is written as a minus before 2**63, which on
its own is out of range."""

import pytest

from embedb import MilvusClient
from embedb.errors import FilterError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@pytest.fixture
def client():
    c = MilvusClient(":memory:")
    c.create_collection("c", dimension=2)
    c.insert("c", [{"id": pk, "vector": [1.0, 0.0]} for pk in (INT64_MIN, -5, 0, INT64_MAX)])
    yield c
    c.close()


@pytest.mark.parametrize("expr, expected", [
    (f"id >= {INT64_MIN}", [INT64_MIN, -5, 0, INT64_MAX]),
    (f"id == - {-INT64_MIN}", [INT64_MIN]),
    (f"id > {INT64_MIN}", [-5, 0, INT64_MAX]),
    (f"id in [{INT64_MIN}, {INT64_MAX}]", [INT64_MIN, INT64_MAX]),
    (f"id <= {INT64_MAX}", [INT64_MIN, -5, 0, INT64_MAX]),
])
def test_bounds_are_valid_literals(client, expr, expected):
    assert sorted(r["id"] for r in client.query("c", filter=expr, output_fields=["id"])) == expected


@pytest.mark.parametrize("expr", [f"id < {2**63}", f"id > {INT64_MIN - 1}", f"id in [1, {2**63}]"])
def test_beyond_the_bounds_is_a_filter_error(client, expr):
    with pytest.raises(FilterError, match="out of the int64 range"):
        client.query("c", filter=expr)
