"""Checksums of the files the store writes: CRC-32C per 16 MiB chunk.

Why chunks: column part files are append-only, so a checkpoint extends the checksum of the
last, partial chunk with the new bytes (``crc(new, old)``) instead of re-reading the file, and
old bytes are never re-blessed; and verifying a large mapped file hashes its chunks on several
threads (both hash functions release the GIL). CRC-32C (Castagnoli, the ``crc32c`` package: the
CPU's SSE4.2 / ARMv8 instruction, a table-driven fallback elsewhere) hashes at about 8 GB/s per
core here, 5x ``zlib.crc32``; like CRC-32 it detects every burst error up to 32 bits and random
damage with probability 1 - 2^-32 per chunk.

A checksum list (``crcs``, the ``"crc"`` of a record or of a manifest file entry) is
``{"alg": "crc32c", "chunks": [crc of each chunk]}``. A plain list of ints is zlib's CRC-32:
what databases written before CRC-32C hold. Both verify; a file keeps its algorithm while it
is appended to (its last chunk is continued, never re-read); new files get CRC-32C. A file with
no bytes has no chunks (``[]``, in either form).

A record is ``{"size": data bytes, "crc": checksum list}``.
"""

from __future__ import annotations

import os
import sys
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


ALGORITHM = "crc32c"  # of every file checksummed from its first byte on
CRC32 = "crc32"       # zlib's: a plain list of ints, in databases written before CRC-32C

Crcs = Any  # a checksum list: {"alg": name, "chunks": [int]} or a plain list (zlib CRC-32)

_crc32c = None


def _crc32c_function():
    """``crc32c.crc32c(data, value)``, loaded on first use. Its extension module is loaded
    without running the package's ``__init__``, which reads its own version through
    ``importlib.metadata`` (20 ms more of every process's start-up); any other layout of the
    package falls back to the plain import."""
    global _crc32c
    if _crc32c is None:
        mod = sys.modules.get("crc32c")
        if mod is None:
            try:
                from importlib.machinery import PathFinder  # noqa: PLC0415
                from importlib.util import module_from_spec  # noqa: PLC0415

                pkg = PathFinder.find_spec("crc32c")
                spec = PathFinder.find_spec("crc32c._crc32c", pkg.submodule_search_locations)
                mod = module_from_spec(spec)
                spec.loader.exec_module(mod)
            except (AttributeError, ImportError, TypeError):
                import crc32c as mod  # noqa: PLC0415
        _crc32c = mod.crc32c
    return _crc32c


def hasher(alg: str):
    """The function ``f(data, value=0) -> int`` of a checksum algorithm (continuing ``value``,
    the checksum of the bytes before ``data``). ValueError: an algorithm this version does not
    know (a record written by a newer one)."""
    if alg == ALGORITHM:
        return _crc32c_function()
    if alg == CRC32:
        return zlib.crc32
    raise ValueError(f"unknown checksum algorithm {alg!r}")


def algorithm(crcs: Crcs) -> str:
    """The algorithm of a checksum list; ``[]`` (no bytes yet) is the one new files get."""
    if isinstance(crcs, dict):
        return str(crcs.get("alg"))
    return CRC32 if crcs else ALGORITHM


def chunks(crcs: Crcs) -> list[int]:
    """The per-chunk checksums of a checksum list."""
    if isinstance(crcs, dict):
        out = crcs.get("chunks")
        if not isinstance(out, list):
            raise ValueError("a checksum record without chunks")
        return out
    return crcs


def _make(alg: str, crcs: list[int]) -> Crcs:
    if alg == CRC32:
        return crcs
    return {"alg": alg, "chunks": crcs} if crcs else []


def extend(crcs: Crcs, old_size: int, data: Any) -> Crcs:
    """The checksum list of ``old_size`` bytes (``crcs``) followed by ``data``, in the
    algorithm of ``crcs`` (a file keeps its algorithm: its last chunk is continued). Returns
    a new list; only the new bytes are hashed."""
    buf = as_bytes(data)
    alg = algorithm(crcs)
    out = list(chunks(crcs))
    if not len(buf):
        return _make(alg, out)
    crc = hasher(alg)
    pos = 0
    fill = old_size % CHUNK
    if fill:  # continue the last, partial chunk
        take = min(CHUNK - fill, len(buf))
        out[-1] = crc(buf[:take], out[-1])
        pos = take
    while pos < len(buf):
        out.append(crc(buf[pos:pos + CHUNK]))
        pos += CHUNK
    return _make(alg, out)


def of(data: Any) -> Crcs:
    return extend([], 0, data)


def first_bad_chunk(data: Any, crcs: Crcs) -> int | None:
    """Index of the first chunk of ``data`` whose checksum differs from ``crcs`` (a length
    mismatch counts as damage at the first differing chunk; a checksum list this version
    cannot read, as damage at chunk 0), or None when all match."""
    buf = as_bytes(data)
    n = (len(buf) + CHUNK - 1) // CHUNK
    try:
        crc, expected = hasher(algorithm(crcs)), chunks(crcs)
    except ValueError:
        return 0
    if n != len(expected):
        return min(n, len(expected))

    def check(i: int) -> bool:
        return crc(buf[i * CHUNK:(i + 1) * CHUNK]) == expected[i]

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
        crc = hasher(ALGORITHM)
        crcs: list[int] = []
        fh.seek(offset)
        done = 0
        while done < size:
            piece = fh.read(min(CHUNK, size - done))
            if not piece:
                raise OSError(f"{path} ends after {done} of {size} bytes")
            crcs.append(crc(piece))
            done += len(piece)
    return {"size": size, "crc": _make(ALGORITHM, crcs)}


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
        return None if first_bad_chunk(b"", record["crc"]) is None else "has a damaged checksum record"
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
