"""Row conversion and log payloads against plain reference implementations."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from embedb.engine import codec
from embedb.engine.columns import Column, decode_texts, encode_texts, spec_for_field, values_from_parts
from embedb.engine.rows import bfloat16_bits_to_float32, build_batch, float32_to_bfloat16_bits
from embedb.errors import StorageError
from embedb.schema import CollectionSchema, DataType


def ref_bfloat16(x: float) -> int:
    """bfloat16 bits of a float32, round to nearest even, one value at a time."""
    (bits,) = struct.unpack("<I", struct.pack("<f", x))
    lsb = (bits >> 16) & 1
    return ((bits + 0x7FFF + lsb) >> 16) & 0xFFFF


finite_f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@settings(max_examples=50, deadline=None)
@given(st.lists(finite_f32, min_size=1, max_size=50))
def test_bfloat16_rounding_matches_reference(values):
    got = float32_to_bfloat16_bits(np.asarray(values, dtype=np.float32))
    assert got.tolist() == [ref_bfloat16(v) for v in values]
    back = bfloat16_bits_to_float32(got)
    for v, b in zip(values, back.tolist()):
        if math.isfinite(b):
            assert b == pytest.approx(v, rel=2 ** -8, abs=1e-38)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=30))
def test_text_parts_round_trip(texts):
    lengths, data = encode_texts(texts)
    assert lengths.tolist() == [len(t.encode()) for t in texts]
    assert decode_texts(lengths, data) == texts


def schema() -> CollectionSchema:
    s = CollectionSchema(enable_dynamic_field=True)
    s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=30)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=3)
    s.add_field("bits", DataType.BINARY_VECTOR, dim=16)
    s.add_field("h", DataType.FLOAT16_VECTOR, dim=2)
    s.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("j", DataType.JSON, nullable=True)
    s.add_field("a", DataType.ARRAY, element_type=DataType.DOUBLE, max_capacity=5)
    s.add_field("n", DataType.INT16, nullable=True)
    return s


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)

row_strategy = st.fixed_dictionaries(
    {
        "v": st.lists(finite_f32, min_size=3, max_size=3),
        "bits": st.lists(st.integers(0, 1), min_size=16, max_size=16),
        "h": st.lists(st.floats(-100, 100), min_size=2, max_size=2),
        "sp": st.dictionaries(st.integers(0, 2**32 - 2), st.floats(-10, 10), max_size=4),
        "j": json_values,
        "a": st.lists(st.floats(-1e6, 1e6), max_size=5),
        "n": st.none() | st.integers(-(2**15), 2**15 - 1),
        "dyn": json_values,
    }
)


@settings(max_examples=40, deadline=None)
@given(st.lists(row_strategy, min_size=1, max_size=8))
def test_batches_survive_the_log_payload(rows):
    rows = [{"id": f"key-{i}-with-a-long-tail-é", **r} for i, r in enumerate(rows)]
    s = schema()
    batch = build_batch(s, rows)
    batch.partition = np.zeros(batch.n, dtype=np.int16)
    specs = {f.name: spec_for_field(f) for f in s.fields}
    from embedb.engine.columns import META_SPEC, PARTITION_SPEC

    specs["$meta"] = META_SPEC
    specs["$partition"] = PARTITION_SPEC
    payload = codec.encode_payload("write", {"n": batch.n}, codec.batch_arrays(batch, specs))
    op, info, arrays = codec.decode_payload(bytes(payload))
    assert op == "write" and info == {"n": batch.n}
    parts = codec.batch_parts(arrays)
    for name, spec in specs.items():
        if name == "$partition":
            assert parts[name]["values"].tolist() == [0] * batch.n
            continue
        values, valid = values_from_parts(spec, parts[name], batch.n)
        col = Column(spec)
        col.append(values, valid)
        expected = Column(spec)
        expected.append(batch.values[name], batch.valid.get(name))
        if spec.kind == "sparse":
            assert (col.csr() != expected.csr()).nnz == 0
        elif spec.kind == "json":
            assert json.dumps(col.values.tolist()) == json.dumps(expected.values.tolist())
        else:
            assert np.array_equal(col.values, expected.values)
        if spec.nullable:
            assert np.array_equal(col.valid, expected.valid)
    # the reference conversions: packed bits, float16, nullable ints, dynamic keys
    assert np.array_equal(batch.values["bits"], np.packbits(np.array([r["bits"] for r in rows], np.uint8), axis=1))
    assert np.array_equal(batch.values["h"], np.array([r["h"] for r in rows], np.float32).astype(np.float16))
    assert batch.valid["n"].tolist() == [r["n"] is not None for r in rows]
    assert [m.get("dyn") for m in batch.values["$meta"]] == [r["dyn"] for r in rows]


def test_damaged_payloads_are_reported():
    payload = codec.encode_payload("delete", {"n": 1}, {"id/values": np.arange(4)})
    with pytest.raises(StorageError, match="bad magic"):
        codec.decode_payload(b"garbage" + bytes(payload))
    with pytest.raises(StorageError, match="checksum mismatch"):
        codec.decode_payload(bytes(payload)[:-8])
    for pos in range(len(codec.MAGIC), len(payload)):  # any one flipped byte is an error, not data
        damaged = bytearray(payload)
        damaged[pos] ^= 0x10
        with pytest.raises(StorageError, match="damaged"):
            codec.decode_payload(bytes(damaged), "log entry 7")
    with pytest.raises(TypeError):
        codec.encode_payload("write", {}, {"x/values": np.array([object()])})
