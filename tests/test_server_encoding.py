"""The server's fast response encoders give byte-identical messages to the plain protobuf way.

Float vector columns are parsed in as packed float32 bytes and search scores are narrowed by
protobuf itself; these tests compare them with the straightforward ``extend(list)`` encoding.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymilvus.grpc_gen import schema_pb2

from embedb.results import Hit, Hits, SearchResult
from embedb.schema import CollectionSchema, DataType, FieldSchema
from embedb.server.translate import records, results


@pytest.mark.parametrize("shape", [(0, 4), (1, 1), (3, 8), (1, 32), (2, 1000), (50, 384), (3, 2800)])
def test_packed_float_vectors_equal_list_encoding(shape):
    # lengths on both sides of the 1-, 2- and 3-byte varint boundaries (128 and 16,384 bytes)
    arr = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    fast = schema_pb2.FloatArray()
    records.set_packed_floats(fast, arr)
    plain = schema_pb2.FloatArray()
    plain.data.extend(arr.ravel().tolist())
    assert fast.SerializeToString() == plain.SerializeToString()
    assert np.array_equal(np.asarray(fast.data, dtype=np.float32), arr.ravel())


def test_vector_column_round_trips_with_nulls():
    vecs = [np.arange(4, dtype=np.float32) + i for i in range(5)]
    values = [vecs[0], None, vecs[2], None, vecs[4]]
    fd = records.field_data("v", DataType.FLOAT_VECTOR, values, dim=4, nullable=True)
    assert fd.vectors.dim == 4
    assert list(fd.valid_data) == [True, False, True, False, True]
    decoded = records.rows_from_fields([fd], 5)
    for row, want in zip(decoded, values):
        if want is None:
            assert row["v"] is None
        else:
            assert np.array_equal(row["v"], want)


def _schema() -> CollectionSchema:
    return CollectionSchema([FieldSchema("id", DataType.INT64, is_primary=True),
                             FieldSchema("v", DataType.FLOAT_VECTOR, dim=4),
                             FieldSchema("tag", DataType.INT64)])


def test_search_scores_narrowed_like_numpy():
    rng = np.random.default_rng(7)
    dist = np.concatenate([rng.standard_normal(40) * np.logspace(-30, 30, 40), [0.0, -0.0, 1e300]])
    hits = Hits(Hit({"id": i, "distance": float(d), "entity": {}}) for i, d in enumerate(dist))
    data = results.search_result_data(SearchResult([hits]), _schema(), len(dist), None)
    with np.errstate(over="ignore"):
        want = dist.astype(np.float32).tolist()
    reference = schema_pb2.SearchResultData(scores=want)
    assert list(data.scores) == list(reference.scores)
    assert list(data.ids.int_id.data) == list(range(len(dist)))
    assert list(data.topks) == [len(dist)] and not data.fields_data and not data.output_fields


def test_search_output_fields_sent_only_when_asked():
    hits = Hits([Hit({"id": 1, "distance": 0.5, "entity": {"tag": 3}})])
    data = results.search_result_data(SearchResult([hits, Hits()]), _schema(), 10, ["tag"])
    assert list(data.output_fields) == ["tag"]
    assert [fd.field_name for fd in data.fields_data] == ["tag"]
    assert list(data.fields_data[0].scalars.long_data.data) == [3]
    assert list(data.topks) == [1, 0]
    empty = results.search_result_data(SearchResult([Hits()]), _schema(), 10, ["tag"])
    assert [fd.field_name for fd in empty.fields_data] == ["id", "tag"]
