"""Write batches <-> bytes for the write log, without pickle.

A payload is ``MAGIC | u64 header length | u32 CRC | header JSON | raw array bytes``; the
CRC covers everything after it, so a damaged log entry is an error, never replayed as data.
``EMBLOG3`` entries carry a CRC-32C (the CPU's instruction: ~0.1 ms for a 1.5 MB entry, where
zlib's CRC-32 took ~0.7 ms of every insert call); ``EMBLOG2`` entries (written before) a zlib
CRC-32, and ``EMBLOG1`` entries (before checksums) none. All three decode. The header names
the operation, small JSON-able facts, and each array's key, dtype, shape and byte range. Arrays
are plain numeric/bool NumPy arrays (columns are turned into such *parts* by ``columns.py``),
so decoding is ``np.frombuffer`` with no Python object per row.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import numpy as np

from ..errors import StorageError
from . import checksum
from .columns import ColumnSpec, Column, encode_string_array, encode_texts
from .rows import ColumnBatch

MAGIC = b"EMBLOG3\n"     # CRC-32C
MAGIC_V2 = b"EMBLOG2\n"  # zlib CRC-32 (before 2026-12-03)
MAGIC_V1 = b"EMBLOG1\n"  # before checksums: no CRC field
_LEN = struct.Struct("<Q")
_CRC = struct.Struct("<I")


def encode_payload(op: str, info: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytearray:
    entries = []
    offset = 0
    flat = []
    for key, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype.hasobject:
            raise TypeError(f"payload array {key!r} holds Python objects")
        entries.append([key, arr.dtype.str, list(arr.shape), offset, arr.nbytes])
        flat.append(arr.reshape(-1).view(np.uint8))
        offset += arr.nbytes
    header = json.dumps({"op": op, "info": info, "arrays": entries}, separators=(",", ":")).encode()
    hstart = len(MAGIC) + _LEN.size + _CRC.size
    start = hstart + len(header)
    out = bytearray(start + offset)  # one buffer, each array copied into it once
    out[: len(MAGIC)] = MAGIC
    _LEN.pack_into(out, len(MAGIC), len(header))
    out[hstart:start] = header
    view = np.frombuffer(out, dtype=np.uint8)
    pos = start
    for raw in flat:
        view[pos : pos + len(raw)] = raw
        pos += len(raw)
    _CRC.pack_into(out, len(MAGIC) + _LEN.size, checksum.hasher(checksum.ALGORITHM)(memoryview(out)[hstart:]))
    return out


def decode_payload(payload: bytes | memoryview, where: str = "write log entry"
                   ) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
    """Inverse of encode_payload; StorageError (naming ``where``) when the entry is damaged."""
    buf = memoryview(payload)
    magic = bytes(buf[: len(MAGIC)])
    if magic not in (MAGIC, MAGIC_V2, MAGIC_V1) or len(buf) < len(MAGIC) + _LEN.size + _CRC.size:
        raise StorageError(f"{where} is damaged: bad magic")
    (hlen,) = _LEN.unpack_from(buf, len(MAGIC))
    start = len(MAGIC) + _LEN.size
    if magic != MAGIC_V1:
        (crc,) = _CRC.unpack_from(buf, start)
        start += _CRC.size
        crc_of = checksum.hasher(checksum.ALGORITHM) if magic == MAGIC else zlib.crc32
        if crc_of(buf[start:]) != crc:
            raise StorageError(f"{where} is damaged: checksum mismatch")
    try:
        header = json.loads(bytes(buf[start : start + hlen]))
        data = buf[start + hlen :]
        arrays = {}
        for key, dtype, shape, off, nbytes in header["arrays"]:
            if off + nbytes > len(data):
                raise StorageError(f"{where} is damaged: array {key!r} is truncated")
            arr = np.frombuffer(data[off : off + nbytes], dtype=np.dtype(dtype))
            arrays[key] = arr.reshape(shape)
        return header["op"], header["info"], arrays
    except (ValueError, KeyError, TypeError) as exc:
        raise StorageError(f"{where} is damaged: {exc}") from None


# ------------------------------------------------------------------- batches
def batch_arrays(batch: ColumnBatch, specs: dict[str, ColumnSpec]) -> dict[str, np.ndarray]:
    """Flatten a validated batch into payload arrays keyed ``field/part``."""
    arrays: dict[str, np.ndarray] = {}
    for name, values in batch.values.items():
        spec = specs[name]
        if spec.kind == "fixed":  # already in part form: no copy
            arrays[f"{name}/values"] = values
            if spec.nullable:
                valid = batch.valid.get(name)
                arrays[f"{name}/valid"] = np.ones(batch.n, bool) if valid is None else valid
            continue
        texts = batch.texts.get(name)
        if texts is not None:  # JSON text from validation (rows.py), the same Column.parts makes
            arrays[f"{name}/lengths"], arrays[f"{name}/data"] = encode_texts(texts)
            if spec.nullable:
                valid = batch.valid.get(name)
                arrays[f"{name}/valid"] = np.ones(batch.n, bool) if valid is None else valid
            continue
        if spec.kind == "string":   # the validated StringDType array as it is (no column copy)
            arrays[f"{name}/lengths"], arrays[f"{name}/data"] = encode_string_array(values)
            if spec.nullable:
                valid = batch.valid.get(name)
                arrays[f"{name}/valid"] = np.ones(batch.n, bool) if valid is None else valid
            continue
        if spec.kind == "sparse" and getattr(values, "format", None) == "csr":
            arrays.update(_sparse_parts(name, values))
            if spec.nullable:
                valid = batch.valid.get(name)
                arrays[f"{name}/valid"] = np.ones(batch.n, bool) if valid is None else valid
            continue
        col = Column(spec)
        col.append(values, batch.valid.get(name))
        for part, arr in col.parts(0, batch.n).items():
            arrays[f"{name}/{part}"] = arr
    if batch.partition is not None:
        arrays["$partition/values"] = batch.partition
    return arrays


def _sparse_parts(name: str, mat: Any) -> dict[str, np.ndarray]:
    """The parts ``Column.parts`` gives for a CSR batch, straight from its arrays (no column
    copy), indices as uint32 when they fit (sparse indices are < 2^32 - 1): a BM25 insert's log
    entry is a fifth smaller. Replay widens them to int64 (``values_from_parts``)."""
    lo, hi = int(mat.indptr[0]), int(mat.indptr[-1])
    indices = mat.indices[lo:hi]
    if len(indices) and 0 <= indices.min() and indices.max() <= 0xFFFFFFFF:
        indices = indices.astype(np.uint32)
    else:
        indices = np.asarray(indices, dtype=np.int64)
    return {f"{name}/lengths": np.diff(mat.indptr).astype(np.int64, copy=False), f"{name}/indices": indices,
            f"{name}/values": np.asarray(mat.data[lo:hi], dtype=np.float32)}


def batch_parts(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Group payload arrays back into ``{field: {part: array}}``."""
    grouped: dict[str, dict[str, np.ndarray]] = {}
    for key, arr in arrays.items():
        name, _, part = key.rpartition("/")
        grouped.setdefault(name, {})[part] = arr
    return grouped
