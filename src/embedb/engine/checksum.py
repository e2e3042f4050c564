"""Checksums of the files the store writes: CRC-32 per 16 MiB chunk.

Why chunks: column part files are append-only, so a checkpoint extends the checksum of the
last, partial chunk with the new bytes (``zlib.crc32(new, old)``) instead of re-reading the
file, and old bytes are never re-blessed; and verifying a large mapped file hashes its chunks
on several threads (``zlib.crc32`` releases the GIL). CRC-32 from the standard library hashes
at about 2 GB/s per core here, faster than blake2b (0.9 GB/s), with no new dependency; it
detects every burst error up to 32 bits and random damage with probability 1 - 2^-32 per chunk.

A record is ``{"size": data bytes, "crc": [crc of each chunk]}``; an empty file has ``crc == []``.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

CHUNK = 1 << 24  # 16 MiB
_PARALLEL_MIN = 4 * CHUNK  # below this, threads cost more than they save

# EMBEDB_VERIFY=0 skips verification on read (for benchmarking its cost; never for real use)
VERIFY = os.environ.get("EMBEDB_VERIFY", "1") not in ("0", "false", "no")


def as_bytes(arr: Any) -> memoryview:
    """A flat byte view of a C-contiguous array or buffer, without copying."""
    if isinstance(arr, np.ndarray):
        arr = np.ascontiguousarray(arr)
        return memoryview(arr.reshape(-1).view(np.uint8)) if arr.size else memoryview(b"")
    return memoryview(arr).cast("B")


def extend(crcs: list[int], old_size: int, data: Any) -> list[int]:
    """The chunk checksums of ``old_size`` bytes (``crcs``) followed by ``data``. Returns a new
    list; only the new bytes are hashed."""
    buf = as_bytes(data)
    out = list(crcs)
    pos = 0
    fill = old_size % CHUNK
    if fill and len(buf):  # continue the last, partial chunk
        take = min(CHUNK - fill, len(buf))
        out[-1] = zlib.crc32(buf[:take], out[-1])
        pos = take
    while pos < len(buf):
        out.append(zlib.crc32(buf[pos:pos + CHUNK]))
        pos += CHUNK
    return out


def of(data: Any) -> list[int]:
    return extend([], 0, data)


def first_bad_chunk(data: Any, crcs: list[int]) -> int | None:
    """Index of the first chunk of ``data`` whose checksum differs from ``crcs`` (a length
    mismatch counts as damage at the first differing chunk), or None when all match."""
    buf = as_bytes(data)
    n = (len(buf) + CHUNK - 1) // CHUNK
    if n != len(crcs):
        return min(n, len(crcs))

    def check(i: int) -> bool:
        return zlib.crc32(buf[i * CHUNK:(i + 1) * CHUNK]) == crcs[i]

    if len(buf) < _PARALLEL_MIN:
        ok = [check(i) for i in range(n)]
    else:
        from concurrent.futures import ThreadPoolExecutor  # 4 ms of import, for large files only

        with ThreadPoolExecutor(min(n, os.cpu_count() or 1, 8)) as pool:  # a pool per call: fork-safe
            ok = list(pool.map(check, range(n)))
    return next((i for i, good in enumerate(ok) if not good), None)


def record_of_file(path: Path, offset: int = 0, size: int | None = None) -> dict[str, Any]:
    """The record of ``size`` bytes of a file from ``offset`` (default: to its end)."""
    with open(path, "rb") as fh:
        total = os.fstat(fh.fileno()).st_size
        size = total - offset if size is None else size
        crcs: list[int] = []
        fh.seek(offset)
        done = 0
        while done < size:
            piece = fh.read(min(CHUNK, size - done))
            if not piece:
                raise OSError(f"{path} ends after {done} of {size} bytes")
            crcs.append(zlib.crc32(piece))
            done += len(piece)
    return {"size": size, "crc": crcs}


def file_problem(path: Path, record: dict[str, Any], offset: int = 0) -> str | None:
    """Why ``size`` bytes of ``path`` from ``offset`` do not match ``record``, or None."""
    size = int(record["size"])
    try:
        actual = path.stat().st_size
    except FileNotFoundError:
        return "is missing"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if actual < offset + size:
        return f"is truncated ({actual} bytes, expected at least {offset + size})"
    if size == 0:
        return None if not record["crc"] else "has a damaged checksum record"
    try:
        data = np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(size,))
        bad = first_bad_chunk(data, record["crc"])
        del data
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if bad is not None:
        return f"is damaged (checksum mismatch in bytes {bad * CHUNK}-{min(size, (bad + 1) * CHUNK)})"
    return None


def read_verified(path: Path, record: dict[str, Any]) -> bytes | None:
    """The ``record["size"]`` bytes of ``path`` when they match ``record``, else None (missing,
    short, unreadable or damaged). One read: the caller parses the very bytes that were
    verified, so a file is neither read twice nor changed between the check and its use."""
    size = int(record["size"])
    try:
        with open(path, "rb") as fh:
            data = fh.read(size)
    except OSError:
        return None
    if len(data) != size:
        return None
    if not VERIFY:
        return data
    return data if first_bad_chunk(data, record["crc"]) is None else None


def of_json_body(body: bytes) -> int:
    return zlib.crc32(body)
