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
absent; the writer cuts it off before appending). So is the newest segment's final record when
the bytes that fail read as pages never written (``_unwritten``): a power cut during the
in-flight call's ``fdatasync`` can leave the file's new length durable but not all its pages.
Any other record whose checksum fails is damage (a call is acknowledged only once its record
is whole, and fdatasynced at "fsync"): a StorageError naming the file. After
durability="process" writes a power cut may leave any unsynced pages, so there the newest
segment's first bad record ends the log (a prefix of whole calls), as SQLite's WAL recovery
does; ``embedb check`` still reports it.

Readers keep a ``Follower``: per segment the records found so far and where the next one
begins, so a refresh reads only the bytes appended since (sealed segments once).
"""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path
from typing import Any, NamedTuple

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


TORN = "torn"   # scan_segment's outcome for the call in flight at a crash
PAGE = 4096     # the granularity of what a power cut leaves unwritten (a file system block)


def scan_segment(path: Path, data, newest: bool, base: int = 0) -> tuple[list[Record], int, str | None]:
    """The intact records of one segment from byte ``base`` on (``data``: its bytes from there
    to the end of the file). Returns them, the offset just past the last one, and None (a clean
    end), ``TORN`` (the newest segment ends in the call in flight at a crash: cut short, or its
    final record's failing bytes read as pages never written) or what is wrong there."""
    view = memoryview(data)
    size = base + len(data)
    records: list[Record] = []
    pos = base
    while pos < size:
        got = _parse_head(view, pos - base)
        if got is None:
            if newest and (size - pos < HEAD_BYTES or _unwritten(path, view, base, pos, None)):
                return records, pos, TORN
            return records, pos, "a damaged record header"
        seq, cid, length, pcrc = got
        end = pos + HEAD_BYTES + length
        if end > size:
            return records, pos, TORN if newest else "a record cut short"
        if _crc(view[pos - base + HEAD_BYTES:end - base]) != pcrc:
            if newest and end == size and _unwritten(path, view, base, pos, end):
                return records, pos, TORN
            return records, pos, "a record whose checksum does not match"
        records.append(Record(seq, cid, path, pos + HEAD_BYTES, length))
        pos = end
    return records, pos, None


def _unwritten(path: Path, view, base: int, pos: int, end: int | None) -> bool:
    """Whether the bad record at ``pos``, the last thing in the newest segment, is the call in
    flight at a power cut, whose fdatasync did not finish: the file's new length reached the
    disk but not every page of the record. Such a page reads zeros: one past the old end of the
    file is a hole (never written: SEEK_HOLE), and the page the record starts in keeps what
    the previous call synced, zeros from ``pos`` on. An acknowledged record has neither (its
    pages were synced), so a flipped byte, or zeros written over it, stays damage.

    ``end``: the record's end when its header is intact (then the file ends there, and a page
    of its payload must be a hole); None when the header is not (then the header must read as
    unwritten, and no intact header may follow: a later record means this call returned)."""
    size = base + len(view)
    holes = _holes(path, pos, size)
    if end is not None:
        return any(stop > pos + HEAD_BYTES for _, stop in holes)
    first_page_end = min(size, (pos // PAGE + 1) * PAGE)
    if pos % PAGE:   # the previous call's last page: zeros from here on until it was written
        header_unwritten = not any(view[pos - base:first_page_end - base])
    else:
        header_unwritten = any(start <= pos for start, _ in holes)
    if not header_unwritten and pos + HEAD_BYTES > first_page_end:   # the header's second page
        header_unwritten = any(start <= first_page_end < stop for start, stop in holes)
    if not header_unwritten:
        return False
    tail = bytes(view[pos + 1 - base:])
    at = tail.find(MAGIC)
    while at >= 0:
        if _parse_head(tail, at) is not None:
            return False
        at = tail.find(MAGIC, at + 1)
    return True


def _holes(path: Path, start: int, stop: int) -> list[tuple[int, int]]:
    """The holes of a file within [start, stop) (none where the file system cannot say)."""
    out: list[tuple[int, int]] = []
    if not hasattr(os, "SEEK_HOLE"):   # (Windows) no way to tell a hole: none, so damage stays damage
        return out
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return out
    try:
        pos = start
        while pos < stop:
            try:
                hole = os.lseek(fd, pos, os.SEEK_HOLE)
            except OSError:   # past the end, or SEEK_HOLE unknown: all data
                break
            if hole >= stop:
                break
            try:
                data = os.lseek(fd, hole, os.SEEK_DATA)
            except OSError:   # ENXIO: a hole to the end of the file
                data = stop
            out.append((hole, min(data, stop)))
            pos = data
    finally:
        os.close(fd)
    return out


def _missing(path: Path) -> StorageError:
    return StorageError(f"the write log {path} is missing (the catalog lists it: it holds "
                        f"acknowledged writes); {RESTORE_HINT}")


def _wrong_length(path: Path, size: int, sealed: int) -> StorageError:
    return StorageError(f"the write log {path} is damaged: {size} bytes, the catalog records "
                        f"{sealed}; {RESTORE_HINT}")


class _Seen(NamedTuple):
    records: list[Record]
    end: int          # just past the last intact record
    size: int         # the bytes read
    newest: bool
    outcome: str | None
    last: tuple[int, bytes] | None   # the last record's offset and header, to see it is still there


class Follower:
    """Scans the segments the catalog lists, remembering per segment what it found, so the next
    scan reads only bytes appended since (a reader's refresh beside a writer). Deleted segments
    are forgotten. Bytes before a remembered offset never change, except for a write the writer
    cut back off (a failed fdatasync): then that segment's last record header differs, and the
    segment is read again from its start."""

    def __init__(self, root: Path):
        self.root = root
        self._seen: dict[str, _Seen] = {}
        # the segments of the last scan, kept open until ``release``: a reader's load replays
        # their records after checking that nothing it needs was covered meanwhile, and a
        # segment the writer deletes in between stays readable through its open descriptor
        self._handles: dict[str, Any] = {}
        self.bytes_read = 0   # for tests and benchmarks
        # how many times a segment was read again from its start because bytes a scan had seen
        # were cut back off (a failed sync): records handed out before may not have been calls
        self.rewinds = 0

    def payload(self, rec: Record) -> bytes:
        """A record's payload, read through the segment the last scan kept open."""
        fh = self._handles.get(rec.path.name)
        if fh is None:
            return read_payload(rec)
        return _whole(rec, os.pread(fh.fileno(), rec.length, rec.offset))

    def release(self) -> None:
        """Close the segments the last scan kept open (the writer's deletions take effect)."""
        handles, self._handles = self._handles, {}
        for fh in handles.values():
            fh.close()

    def scan(self, registry: dict[str, int | None]) -> Scan:
        """Read the segments the catalog lists (``registry``: name -> its length once sealed,
        None for the newest one, still growing). A listed segment that is missing, or a sealed
        one of another length, is a StorageError naming it. A record cut short at the end of
        the newest segment is the call in flight at a crash: ``tail`` (as is a final record
        whose failing pages were never written). Any other bad record is ``problem``: a record
        is acknowledged only once whole, so its checksum failing is damage, never a crash (the
        caller may still accept it as the unsynced end of durability="process" writes)."""
        names = sorted(registry)
        self._seen = {n: s for n, s in self._seen.items() if n in registry}
        for name in [n for n in self._handles if n not in registry]:
            self._handles.pop(name).close()
        records: list[Record] = []
        for i, name in enumerate(names):
            path = self.root / DIR / name
            sealed = registry[name]
            newest = i == len(names) - 1 and sealed is None
            seen = self._segment(path, sealed, newest)
            records += seen.records
            if seen.outcome == TORN:
                return Scan(records, (path, seen.end), None)
            if seen.outcome is not None:
                return Scan(records, None, (path, seen.end, seen.outcome))
        return Scan(records, None, None)

    def _segment(self, path: Path, sealed: int | None, newest: bool) -> _Seen:
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            raise _missing(path) from None
        kept = self._handles.pop(path.name, None)
        if kept is not None:
            kept.close()
        self._handles[path.name] = fh
        size = os.fstat(fh.fileno()).st_size
        if sealed is not None and size != sealed:
            raise _wrong_length(path, size, sealed)
        seen = self._seen.get(path.name)
        if seen is not None and (size < seen.end or not _still_there(fh, seen.last)):
            seen = None
            self.rewinds += 1
        if seen is not None and size == seen.size and newest == seen.newest:
            return seen   # nothing appended since
        start = seen.end if seen is not None else 0
        fh.seek(start)
        data = fh.read()
        self.bytes_read += len(data)
        found, end, outcome = scan_segment(path, data, newest, start)
        if found:
            last = (found[-1].offset - HEAD_BYTES,
                    bytes(memoryview(data)[found[-1].offset - HEAD_BYTES - start:found[-1].offset - start]))
        else:
            last = seen.last if seen is not None else None
        seen = _Seen((seen.records if seen is not None else []) + found, end, start + len(data),
                     newest, outcome, last)
        self._seen[path.name] = seen
        return seen


def _still_there(fh, last: tuple[int, bytes] | None) -> bool:
    if last is None:
        return True
    pos, header = last
    return os.pread(fh.fileno(), HEAD_BYTES, pos) == header


def scan(root: Path, registry: dict[str, int | None]) -> Scan:
    """One scan of the segments the catalog lists (see ``Follower.scan``)."""
    follower = Follower(root)
    try:
        return follower.scan(registry)
    finally:
        follower.release()


def read_payload(rec: Record) -> bytes:
    with open(rec.path, "rb") as fh:
        fh.seek(rec.offset)
        return _whole(rec, fh.read(rec.length))


def _whole(rec: Record, data: bytes) -> bytes:
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
