"""The arrays of an ``.npz`` file already read into memory, as views of those bytes.

Why: ``np.load`` on an ``.npz`` copies every member out of the zip and checks each member's
zip CRC-32 on the way, a second pass over bytes the store has just verified against the
manifest's checksum (``checksum.read_verified``). Members written by ``np.savez`` are stored
uncompressed, so each array is a slice of the file: ``np.frombuffer`` maps it without a copy.
The result is read-only (the bytes are immutable); object arrays are refused (no pickle).
Compressed members, which embedb never writes, are read the ordinary way.
"""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np

_LOCAL_HEADER = struct.Struct("<4s22xHH")   # signature ... file name length, extra field length


def arrays(data: bytes) -> dict[str, np.ndarray]:
    """``{name: array}`` of the npz ``data``; ValueError (or zipfile.BadZipFile) when malformed."""
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:   # BytesIO shares the bytes (no copy)
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if info.compress_type != zipfile.ZIP_STORED:
                with zf.open(info) as fh:
                    out[name] = np.lib.format.read_array(fh, allow_pickle=False)
                continue
            sig, n_name, n_extra = _LOCAL_HEADER.unpack_from(data, info.header_offset)
            if sig != b"PK\x03\x04":
                raise ValueError(f"member {name!r}: bad local header")
            start = info.header_offset + _LOCAL_HEADER.size + n_name + n_extra
            out[name] = _npy_view(data, start, info.file_size, name)
    return out


def _npy_view(data: bytes, start: int, size: int, name: str) -> np.ndarray:
    head = io.BytesIO(data[start:start + min(size, 1 << 16)])
    version = np.lib.format.read_magic(head)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(head)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(head)
    if dtype.hasobject:
        raise ValueError(f"member {name!r} holds Python objects")
    count = int(np.prod(shape, dtype=np.int64))
    offset = start + head.tell()
    if offset + count * dtype.itemsize > start + size:
        raise ValueError(f"member {name!r} is shorter than its header says")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return arr.reshape(shape, order="F" if fortran else "C")
