"""Side by side with Milvus Lite 3.x's own filter evaluator (milvus_lite.search.filter) on the
same random columns: every filter both grammars accept must select the same rows. Skipped when
milvus-lite is not installed. Known, deliberate differences are asserted separately below."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.reference

pa = pytest.importorskip("pyarrow")
ml_filter = pytest.importorskip("milvus_lite.search.filter")
ml_types = pytest.importorskip("milvus_lite.schema.types")

from embedb.expr import ArrayColumnSource, Column, compile_filter  # noqa: E402
from embedb.schema import CollectionSchema, DataType, FieldSchema  # noqa: E402

N = 300


def objects(values):
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


@pytest.fixture(scope="module")
def both():
    rng = np.random.default_rng(11)
    age = rng.integers(-5, 50, N)
    score = rng.random(N) * 10
    names = ["".join(rng.choice(list("ab%_c"), rng.integers(0, 4))) for _ in range(N)]
    docs = [
        {"a": int(rng.integers(0, 5)), "b": {"c": str(rng.choice(["x", "y"]))},
         "l": [int(v) for v in rng.integers(0, 5, rng.integers(0, 4))]}
        if i % 5 else {"a": "s"}
        for i in range(N)
    ]
    arr = [[int(v) for v in rng.integers(0, 5, rng.integers(0, 4))] for _ in range(N)]

    T = ml_types
    ml_schema = T.CollectionSchema(fields=[
        T.FieldSchema("id", T.DataType.INT64, is_primary=True),
        T.FieldSchema("age", T.DataType.INT64),
        T.FieldSchema("score", T.DataType.DOUBLE),
        T.FieldSchema("name", T.DataType.VARCHAR, max_length=10),
        T.FieldSchema("j", T.DataType.JSON),
        T.FieldSchema("arr", T.DataType.ARRAY, element_type=T.DataType.INT64, max_capacity=5),
    ])
    table = pa.table({
        "id": pa.array(np.arange(N)), "age": pa.array(age), "score": pa.array(score),
        "name": pa.array(names, pa.string()),
        "j": pa.array([json.dumps(d) for d in docs], pa.string()),
        "arr": pa.array(arr, pa.list_(pa.int64())),
    })
    schema = CollectionSchema([
        FieldSchema("id", DataType.INT64, is_primary=True),
        FieldSchema("age", DataType.INT64),
        FieldSchema("score", DataType.DOUBLE),
        FieldSchema("name", DataType.VARCHAR, max_length=10),
        FieldSchema("j", DataType.JSON),
        FieldSchema("arr", DataType.ARRAY, element_type=DataType.INT64, max_capacity=5),
    ])
    source = ArrayColumnSource(schema, {
        "id": np.arange(N), "age": age, "score": score,
        "name": np.array(names, dtype=np.dtypes.StringDType()),
        "j": Column(objects(docs)), "arr": Column(objects(arr)),
    }, N)

    def lite(text):
        return np.asarray(ml_filter.evaluate_mask(ml_filter.compile_filter(text, ml_schema), table),
                          dtype=bool)

    def ours(text):
        return compile_filter(text, schema).evaluate(source)

    return lite, ours, age


AGREED = [
    "age > 10", "age >= 3 and score < 5", "not (age in [1, 2, 3])", "age not in [1, 2, 3]",
    'name like "a%"', 'name like "%b"', 'name like "%a%"', 'name like "a_"', 'name == ""',
    "age * 2 + 1 > 20", "age - score < 0", "-age > -3", "age IN [1]",
    'j["a"] == 1', 'j["a"] > 2', 'j["b"]["c"] == "x"', 'j["l"][0] == 1',
    'json_contains(j["l"], 3)', 'json_contains_all(j["l"], [1, 2])',
    'json_contains_any(j["l"], [1, 2])', "array_contains(arr, 2)", "array_length(arr) == 2",
    "arr[0] == 1", "array_contains_any(arr, [1, 4])", 'exists j["b"]', 'j["b"] is null',
    "age > 3 || score > 9", "age > 3 && !(score > 9)", "age > 3 AND NOT score > 9",
]


@pytest.mark.parametrize("text", AGREED)
def test_same_rows_as_milvus_lite(both, text):
    lite, ours, _ = both
    assert np.array_equal(ours(text), lite(text))


def test_deliberate_differences(both):
    lite, ours, age = both
    # Integer division truncates (C / segcore semantics); Milvus Lite 3.x divides as doubles.
    assert np.array_equal(ours("age / 2 == 3"), np.isin(age, [6, 7]))
    assert np.array_equal(lite("age / 2 == 3"), age == 6)
    # A JSON value of another type is UNKNOWN for != as for ==; Milvus Lite counts it as !=.
    assert ours('j["a"] != 1').sum() < lite('j["a"] != 1').sum()
    # Constructs of the server grammar that Milvus Lite 3.x rejects and embedb evaluates.
    for text in ["age % 3 == 1", 'j["a"] in [1, 2]', "score ** 2 > 4", "1 < age <= 5"]:
        ours(text)
