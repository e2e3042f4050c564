"""The write calls' log entries, out of SQLite: append-only segment files under ``wlog/``.

A write call's entry (1.5 MB for 1,000 rows of 384-d vectors) used to be a row of SQLite's
table ``log``: its commit wrote ~1.9 MB of 64 KiB pages into SQLite's WAL (SQLite's own
checksum over every frame), later ~1.3 MB again into SQLite's main file, and the trim read
the blob's overflow pages again to free them. Here an entry is one ``write()`` of a record

    MAGIC "EMBWAL1\\n" | u64 seq | u64 collection id | u64 payload length | u32 CRC-32C of the
    payload | u32 CRC-32C of the 36 bytes before it | payload (codec.encode_payload's bytes)

appended to the newest segment ``wlog/<first seq, 20 digits>.log`` and, at durability="fsync",
``fdatasync``ed before the call returns. A segment is closed (fsynced) at 32 MiB and a new one
begun; a closed segment is deleted once the catalog records a snapshot covering every entry in
it (table ``checkpoints``) or its collection is gone. Sequence numbers are one sequence with
the SQLite log rows that remain (a partition drop, which commits with its catalog change;
databases written before this file existed).

Reading stops at the first record that is not whole and intact. A record cut short at the end
of the newest segment is the call in flight at a crash (a torn tail: dropped, the call is
absent; the writer cuts it off before appending). A whole record whose checksum fails is
damage (a call is acknowledged only once its record is whole, and fdatasynced at "fsync"): a
StorageError naming the file. After durability="process" writes a power cut may leave any
unsynced pages, so there the newest segment's first bad record ends the log (a prefix of
whole calls), as SQLite's WAL recovery does; ``embedb check`` still reports it.
"""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path
from typing import NamedTuple

from ..errors import StorageError
from . import checksum
from .integrity import RESTORE_HINT

DIR = "wlog"
MAGIC = b"EMBWAL1\n"
_HEAD = struct.Struct("<8sQQQI")
_HCRC = struct.Struct("<I")
HEAD_BYTES = _HEAD.size + _HCRC.size   # 40
SEGMENT_BYTES = 32 * 1024 * 1024  # sealed past this: one catalog commit per ~20 calls of 1.5 MB
_crc = checksum.hasher("crc32c")


class Record(NamedTuple):
    seq: int
    cid: int
    path: Path
    offset: int   # of the payload
    length: int


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}.log"


def segment_files(root: Path) -> list[Path]:
    """Every segment file in wlog/ (registered in the catalog or not)."""
    d = root / DIR
    try:
        names = sorted(n for n in os.listdir(d) if n.endswith(".log") and n[:-4].isdigit())
    except FileNotFoundError:
        return []
    return [d / n for n in names]


def head(seq: int, cid: int, payload) -> bytes:
    h = _HEAD.pack(MAGIC, seq, cid, len(payload), _crc(payload))
    return h + _HCRC.pack(_crc(h))


def _parse_head(data, pos: int) -> tuple[int, int, int, int] | None:
    """(seq, cid, length, payload crc) of an intact header at ``pos``, else None."""
    if len(data) - pos < HEAD_BYTES:
        return None
    h = bytes(data[pos:pos + _HEAD.size])
    magic, seq, cid, length, pcrc = _HEAD.unpack(h)
    if magic != MAGIC or _HCRC.unpack_from(data, pos + _HEAD.size)[0] != _crc(h):
        return None
    return seq, cid, length, pcrc


class Scan(NamedTuple):
    records: list[Record]   # every intact record before the first bad one, in order
    tail: tuple[Path, int] | None   # the newest segment's valid length, when a torn end follows
    problem: tuple[Path, int, str] | None   # a damaged record: file, byte offset, what is wrong


def scan(root: Path, registry: dict[str, int | None]) -> Scan:
    """Read the segments the catalog lists (``registry``: name -> its length once sealed, None
    for the newest one, still growing). A listed segment that is missing, or a sealed one of
    another length, is a StorageError naming it. A record cut short at the end of the newest
    segment is the call in flight at a crash: ``tail``. Any other bad record is ``problem``:
    a record is acknowledged only once whole, so its checksum failing is damage, never a crash
    (the caller may still accept it as the unsynced end of durability="process" writes)."""
    names = sorted(registry)
    records: list[Record] = []
    for i, name in enumerate(names):
        path = root / DIR / name
        sealed = registry[name]
        newest = i == len(names) - 1 and sealed is None
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StorageError(f"the write log {path} is missing (the catalog lists it: it holds "
                               f"acknowledged writes); {RESTORE_HINT}") from None
        if sealed is not None and len(data) != sealed:
            raise StorageError(f"the write log {path} is damaged: {len(data)} bytes, the catalog "
                               f"records {sealed}; {RESTORE_HINT}")
        pos = 0
        while pos < len(data):
            got = _parse_head(data, pos)
            if got is None:
                if newest and len(data) - pos < HEAD_BYTES:
                    return Scan(records, (path, pos), None)
                return Scan(records, None, (path, pos, "a damaged record header"))
            seq, cid, length, pcrc = got
            end = pos + HEAD_BYTES + length
            if end > len(data):
                if newest:
                    return Scan(records, (path, pos), None)
                return Scan(records, None, (path, pos, "a record cut short"))
            if _crc(memoryview(data)[pos + HEAD_BYTES:end]) != pcrc:
                return Scan(records, None, (path, pos, "a record whose checksum does not match"))
            records.append(Record(seq, cid, path, pos + HEAD_BYTES, length))
            pos = end
    return Scan(records, None, None)


def read_payload(rec: Record) -> bytes:
    with open(rec.path, "rb") as fh:
        fh.seek(rec.offset)
        data = fh.read(rec.length)
    if len(data) != rec.length:
        raise StorageError(f"{rec.path} is truncated (write log entry {rec.seq})")
    return data


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Appender:
    """The writer's end: appends records to the newest segment (the caller serialises
    appends; ``sync`` may run on another thread, the background checkpointer's).
    ``catalog(sealed, new)`` records in the catalog, durably, that segment ``sealed`` (a path
    and its final length, or None) is closed and that ``new`` (a path) is the newest one."""

    def __init__(self, root: Path, catalog):
        self.root = root
        self.catalog = catalog
        self.fd: int | None = None
        self.path: Path | None = None
        self.size = 0
        self.written = 0   # records appended ...
        self.synced = 0    # ... and how many of them are known durable
        self.broken: str | None = None
        self.cids: dict[Path, dict[int, int]] = {}   # per closed or newest segment: cid -> last seq
        self._mu = threading.Lock()   # a leaf lock: fd and counters

    @property
    def dirty(self) -> bool:
        return self.synced < self.written

    def note(self, rec: Record) -> None:
        per = self.cids.setdefault(rec.path, {})
        per[rec.cid] = max(per.get(rec.cid, 0), rec.seq)

    def append(self, seq: int, cid: int, payload, sync: bool) -> Record:
        if self.broken:
            raise StorageError(self.broken)
        if self.fd is None or self.size >= SEGMENT_BYTES:
            self._rotate(seq)
        start = self.size
        record = head(seq, cid, payload)
        try:
            done = os.pwritev(self.fd, [record, payload], start)
            if done != len(record) + len(payload):
                raise OSError(f"short write ({done} of {len(record) + len(payload)} bytes)")
            if sync:
                os.fdatasync(self.fd)
        except OSError as exc:
            self._undo(start, exc)
            raise StorageError(f"writing the write log {self.path} failed ({exc.strerror or exc}); "
                               "nothing of this call was stored") from None
        rec = Record(seq, cid, self.path, start + HEAD_BYTES, len(payload))
        with self._mu:
            self.size = start + len(record) + len(payload)
            self.written += 1
            if sync:
                self.synced = self.written
        self.note(rec)
        return rec

    def _undo(self, start: int, exc: OSError) -> None:
        """Cut a failed append off, so the segment ends with the last acknowledged record."""
        try:
            os.ftruncate(self.fd, start)
            os.fdatasync(self.fd)
        except OSError:
            self.broken = (f"the write log {self.path} could not be cut back after a failed write "
                           f"({exc.strerror or exc}); close and reopen the database (every "
                           "acknowledged write is kept)")

    def _rotate(self, seq: int) -> None:
        """Seal the full segment (synced: a later segment never outlives an earlier one's
        tail) and begin a new one named by its first sequence number: the file is created and
        made durable in its folder first, then the catalog lists it (a file the catalog does
        not list is a leftover, never read)."""
        path = self.root / DIR / segment_name(seq)
        try:
            if self.fd is not None:
                os.fdatasync(self.fd)
            d = self.root / DIR
            fresh = not d.exists()
            d.mkdir(exist_ok=True)
            if fresh:
                fsync_dir(self.root)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                fsync_dir(d)
            except OSError:
                os.close(fd)
                raise
        except OSError as exc:
            raise StorageError(f"starting a write log segment in {self.root / DIR} failed "
                               f"({exc.strerror or exc}); nothing of this call was stored") from None
        try:
            self.catalog((self.path, self.size) if self.fd is not None else None, path)
        except BaseException:
            os.close(fd)
            raise
        with self._mu:
            if self.fd is not None:
                os.close(self.fd)
            self.fd, self.path, self.size = fd, path, 0
            self.synced = self.written
        self.cids.setdefault(path, {})

    def sync(self) -> None:
        """Make every appended record durable (durability="process": before a synced catalog
        commit or a manifest rename). The fdatasync runs on a duplicate of the descriptor,
        without the lock, so an append on another thread goes on meanwhile."""
        with self._mu:
            if self.fd is None or not self.dirty:
                return
            fd, target, path = os.dup(self.fd), self.written, self.path
        try:
            os.fdatasync(fd)
        except OSError as exc:
            raise StorageError(f"syncing the write log {path} failed ({exc.strerror or exc}); "
                               "every acknowledged write is still in it") from None
        finally:
            os.close(fd)
        with self._mu:
            self.synced = max(self.synced, target)

    def close(self) -> tuple[Path, int] | None:
        """Close the newest segment, synced; returns it and its length (to seal), or None."""
        with self._mu:
            if self.fd is None:
                return None
            try:
                os.fdatasync(self.fd)
            finally:
                os.close(self.fd)
                self.fd = None
            return self.path, self.size

    def covered(self, covered: dict[int, int], live: set[int]) -> list[Path]:
        """The closed segments whose every record a recorded snapshot covers, or whose
        collections are gone. ``covered``: collection id -> log position of its snapshot."""
        return [path for path, per in self.cids.items()
                if not (path == self.path and self.fd is not None)
                and all(cid not in live or covered.get(cid, 0) >= last for cid, last in per.items())]
