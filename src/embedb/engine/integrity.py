"""Integrity of the files of a database: manifest checksums, verifying column files on first
use, telling a damaged embedb database from another program's directory, whether a writer is
open, and SQLite's write-ahead log damaged in the middle. Used by ``storage.py`` and
``check.py``; the checksums themselves are ``checksum.py``."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import struct
import sys
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StorageError
from . import checksum

RESTORE_HINT = ("restore the database directory from a backup; `embedb check PATH` lists every "
                "damaged file")


_MANIFEST_KEYS = {"format", "generation", "dir", "num_rows", "log_seq", "files", "collection",
                  "deleted", "ext", "checksum"}


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The manifest as JSON with a CRC-32 of its canonical body under ``checksum`` (also set
    in ``manifest`` itself, so the in-memory copy equals what a reader parses)."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    manifest["checksum"] = zlib.crc32(json.dumps(body, sort_keys=True).encode())
    return json.dumps(manifest, indent=1).encode()


def parse_manifest(raw: bytes) -> dict[str, Any]:
    """Parse and verify a manifest (ValueError/KeyError/TypeError when damaged)."""
    m = json.loads(raw)
    if not isinstance(m, dict):
        raise ValueError("not a JSON object")
    unknown = set(m) - _MANIFEST_KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    if "checksum" in m:
        body = {k: v for k, v in m.items() if k != "checksum"}
        if zlib.crc32(json.dumps(body, sort_keys=True).encode()) != m["checksum"]:
            raise ValueError("checksum mismatch")
    elif int(m.get("format", 1)) >= 2 or "deleted" in m or "ext" in m:
        raise ValueError("its checksum is missing")
    for key in ("generation", "num_rows", "log_seq"):
        int(m[key])
    if not isinstance(m["files"], dict) or not isinstance(m["dir"], str):
        raise ValueError("malformed file list")
    return m


def column_verifier(items: list[tuple[Path, np.ndarray, list[int]]]):
    verified = []  # once verified, later calls (the column, read views) return at once

    def verify() -> None:
        if verified:
            return
        for path, arr, crcs in items:
            bad = checksum.first_bad_chunk(arr, crcs)
            if bad is not None:
                end = min((bad + 1) * checksum.CHUNK, arr.nbytes)
                raise StorageError(f"{path} is damaged (checksum mismatch in data bytes "
                                   f"{bad * checksum.CHUNK}-{end}); {RESTORE_HINT}")
        for _, arr, _ in items:
            release_pages(arr)   # read once to verify; mapped again only where used
        verified.append(True)
    return verify


def release_pages(arr: np.ndarray) -> None:
    """Unmap the resident pages of a read-only memory-mapped array from this process
    (``MADV_DONTNEED``). They stay in the page cache, and the next read maps them back
    without touching the disk. A full pass (verifying checksums, converting vectors) would
    otherwise count a whole file as this process's memory. Nothing happens for other
    arrays or platforms."""
    import mmap  # noqa: PLC0415

    base = arr
    while base is not None and not isinstance(base, np.memmap):
        base = getattr(base, "base", None)
    mm = getattr(base, "_mmap", None)
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if mm is None or advice is None or base.mode != "r" or not hasattr(mm, "madvise"):
        return   # a private (copy-on-write) map would lose its writes: never advise those
    try:
        mm.madvise(advice)
    except (OSError, ValueError):
        pass


@contextmanager
def no_writer(root: Path):
    """Yields True while no process holds the write lock (and none can take it meanwhile: a
    shared lock on LOCK; the file is only read), False when a writer is open."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): cannot tell
        yield False
        return
    try:
        fd = os.open(root / "LOCK", os.O_RDONLY)
    except FileNotFoundError:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def embedb_collection_folders(root: Path) -> list[str]:
    """Names of the folders under ``root/collections`` that embedb wrote (a manifest, a
    snapshot generation or extension files inside), to tell a damaged embedb database from
    another program's directory."""
    cdir = root / "collections"
    if not cdir.is_dir():
        return []
    out = []
    for p in cdir.iterdir():
        if p.is_dir() and p.name.isdigit() and any(
                c.name in ("manifest.json", "ext") or re.fullmatch(r"g\d+", c.name) for c in p.iterdir()):
            out.append(p.name)
    return out


def wal_problem(conn: sqlite3.Connection, db_file: Path) -> str | None:
    """SQLite reads its write-ahead log up to the first frame whose checksum fails and
    ignores the rest, as if those writes had never happened. That is right for a frame torn
    by a crash, but when a later frame of the same log ends a committed transaction, the
    damage is in the middle and acknowledged writes would be lost: say so.

    The failing frame itself may be a commit frame: that is the transaction in flight at a
    crash (SQLite writes a frame's 24-byte header and its page with two writes, so a kill
    between them leaves the new header, with the commit mark, over the old page), never an
    acknowledged one, when it lies over an older frame (a log restarted from its start: the
    frame after it is of another salt); at the end of the file a crash cuts a frame short
    (the file grows as it is written), so a whole failing commit frame there is damage."""
    wal = db_file.with_name(db_file.name + "-wal")
    try:
        size = wal.stat().st_size
    except OSError:
        return None
    with open(wal, "rb") as fh:
        head = fh.read(32)
        if len(head) < 32 or head[:4] not in (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83"):
            return None  # no log, or its header is gone: SQLite starts a new one
        frame = 24 + int.from_bytes(head[8:12], "big")
        total = (size - 32) // frame
        valid = _wal_frames_accepted(conn, db_file)
        if valid < 0:
            return None
        bad = _first_failing_frame(fh, head, frame, valid, total)
        for i in range(bad, total):
            fh.seek(32 + i * frame)
            h = fh.read(24)
            if h[8:16] != head[16:24] or int.from_bytes(h[4:8], "big") == 0:
                continue
            if i > bad:
                return (f"is damaged: a frame before frame {i + 1} of {total} fails its checksum, "
                        f"and frame {i + 1} ends a committed transaction (SQLite would drop "
                        "acknowledged writes from the damaged frame on)")
            fh.seek(32 + (i + 1) * frame)
            after = fh.read(24)
            if len(after) < 24 or after[8:16] == head[16:24]:   # not over an older frame
                return (f"is damaged: frame {i + 1} of {total} ends a committed transaction and "
                        "fails its checksum (SQLite would drop that transaction's acknowledged "
                        "writes)")
    return None


def _first_failing_frame(fh, head: bytes, frame: int, valid: int, total: int) -> int:
    """The index of the first frame from ``valid`` on (the frames SQLite accepted) whose salt
    or checksum fails, as SQLite's recovery checks them: a running checksum over the first 8
    bytes of each frame header and its page, from the one stored with the frame before (the
    log header's for the first), in the byte order the magic number names. Only the frames of
    the transaction that was not accepted are read (few: the one in flight)."""
    order = ">" if head[3] & 1 else "<"
    if valid == 0:
        s = struct.unpack(">II", head[24:32])
    else:
        fh.seek(32 + (valid - 1) * frame + 16)
        s = struct.unpack(">II", fh.read(8))
    for i in range(valid, total):
        fh.seek(32 + i * frame)
        data = fh.read(frame)
        if len(data) < frame or data[8:16] != head[16:24]:
            return i
        s = wal_checksum(s, data[:8] + data[24:], order)
        if s != struct.unpack(">II", data[16:24]):
            return i
    return total


def wal_checksum(s: tuple[int, int], data: bytes, order: str) -> tuple[int, int]:
    """SQLite's WAL checksum of ``data`` (a multiple of 8 bytes) continued from ``s``: for
    each pair of 32-bit words (x0, x1) in byte order ``order``, s0 += x0 + s1, then
    s1 += x1 + s0, modulo 2^32. One step is linear, (s0, s1) -> M (s0, s1) + (x0, x0 + x1) with
    M = [[1, 1], [1, 2]], so n steps are M^n s plus the sum of M^(n-1-k) (x0, x0 + x1)_k: dot
    products with the powers of M, in NumPy (uint64 products wrap modulo 2^64, a multiple of
    2^32). The word-by-word loop took ~4 ms per 64 KiB frame."""
    words = np.frombuffer(data, dtype=np.dtype(np.uint32).newbyteorder(order)).astype(np.uint64)
    x0, x1 = words[0::2], words[1::2]
    v1 = x0 + x1
    a, b, d = _wal_powers(len(x0))   # M^(n-1-k) = [[a, b], [b, d]], k = 0..n-1
    an, bn, dn = _wal_power(len(x0))
    s0 = (an * s[0] + bn * s[1] + int(np.sum(a * x0 + b * v1))) & 0xFFFFFFFF
    s1 = (bn * s[0] + dn * s[1] + int(np.sum(b * x0 + d * v1))) & 0xFFFFFFFF
    return s0, s1


_WAL_POWERS: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _wal_powers(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, d) of M^(n-1-k) for k = 0..n-1, modulo 2^32 (M is symmetric: so is each power);
    kept per n (one per page size)."""
    got = _WAL_POWERS.get(n)
    if got is None:
        out = np.empty((n, 3), dtype=np.uint64)
        a, b, d = 1, 0, 1
        for j in range(n):   # M^j, written at k = n-1-j
            out[n - 1 - j] = (a, b, d)
            a, b, d = (a + b) & 0xFFFFFFFF, (a + 2 * b) & 0xFFFFFFFF, (b + 2 * d) & 0xFFFFFFFF
        got = _WAL_POWERS[n] = (out[:, 0].copy(), out[:, 1].copy(), out[:, 2].copy())
    return got


def _wal_power(n: int) -> tuple[int, int, int]:
    """(a, b, d) of M^n modulo 2^32, from M^(n-1) (kept by ``_wal_powers``)."""
    a, b, d = (int(v[0]) for v in _wal_powers(n))
    return (a + b) & 0xFFFFFFFF, (a + 2 * b) & 0xFFFFFFFF, (b + 2 * d) & 0xFFFFFFFF


def _wal_frames_accepted(conn: sqlite3.Connection, db_file: Path) -> int:
    """How many log frames SQLite accepted when it opened the log (-1: unknown). A read
    makes SQLite recover the log into its index (the -shm file, written in place, nothing
    else); the index header holds that count (``mxFrame``, native byte order)."""
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    shm = db_file.with_name(db_file.name + "-shm")
    if not os.access(shm, os.W_OK):  # SQLite keeps the index in memory then: unknown
        return -1
    try:
        with open(shm, "rb") as fh:
            hdr = fh.read(48)
    except OSError:
        return -1
    if len(hdr) < 48 or hdr[12] != 1:  # isInit: the index was built
        return -1
    return int.from_bytes(hdr[16:20], sys.byteorder)
