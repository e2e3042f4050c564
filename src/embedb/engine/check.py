"""Verify a database on disk without changing it: every checksum, the catalog and the write log.

``check_database(path)`` opens the catalog read-only (no write lock, nothing written) and
returns what it found: ``(problems, files_checked)``, each problem a dict with the ``file``
(relative to the database), its ``kind``, the ``problem`` and the ``action`` to take. Files of
record (catalog, log, manifests, column parts, tombstones) can only be restored from a backup;
derived files (vector indexes, full-text posting lists) are rebuilt from the columns when
next used, so their damage is reported with that action. Used by ``embedb check``.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StorageError
from . import checksum, codec, writelog
from .storage import HEADER_BYTES, RESTORE_HINT, SQLITE_NAME, Storage, embedb_collection_folders, no_writer

RESTORE = "restore the database directory from a backup"
REBUILT = "none needed: rebuilt from the columns when next used, then saved again"


def check_database(path: str | Path) -> tuple[list[dict[str, Any]], int]:
    root = Path(path).expanduser().absolute()
    problems: list[dict[str, Any]] = []

    def report(file: Path | str, kind: str, problem: str, action: str = RESTORE) -> None:
        rel = str(Path(file).relative_to(root)) if Path(file).is_absolute() else str(file)
        problem = _short(problem.replace(str(file), "").replace(str(root), ""))
        problems.append({"file": rel, "kind": kind, "problem": problem, "action": action})

    if not root.is_dir():
        report(root.name, "database", "is not a directory (embedb keeps a database in a directory)")
        return problems, 0
    db_file = root / SQLITE_NAME
    if not db_file.exists() or db_file.stat().st_size == 0:
        state = "missing" if not db_file.exists() else "empty (0 bytes)"
        folders = embedb_collection_folders(root)
        report(db_file, "catalog", f"is {state}" + (f" beside collection folders {sorted(folders)[:5]}" if folders else ""))
        return problems, 1
    try:
        storage = Storage(root, read_only=True, check_wal=False)  # judged below, as a problem
    except StorageError as exc:
        report(db_file, "catalog", exc.message)
        return problems, 1
    checked = 1
    try:
        _check_sqlite(storage, db_file, report)
        checked += _check_write_log(storage, root, report)
        try:
            cols, _, _ = storage.load_catalog()
        except StorageError as exc:
            report(db_file, "catalog", exc.message)
            return problems, checked
        for cid, name, _info in cols:
            checked += _check_collection_settled(storage, cid, name, report)
        for folder in _foreign_folders(storage, {cid for cid, _, _ in cols}):
            report(folder, "folder", "is a collection folder the catalog does not list (damaged or replaced "
                   "catalog?)", f"{RESTORE}, or move the folder away if it is not needed")
    finally:
        storage.close()
    return problems, checked


def _foreign_folders(storage: Storage, listed: set[int], attempts: int = 4) -> list[Path]:
    """Collection folders the catalog does not list, each looked up again in a fresh read of
    the catalog: a live writer creates a collection's folder after its catalog entry, which
    this check's first read may predate (and deletes a dropped one's after the drop)."""
    _, foreign = storage.unknown_dirs(listed)
    for attempt in range(attempts):
        if not foreign:
            break
        time.sleep(0.02 * (attempt + 1))
        try:
            listed = listed | {cid for cid, _, _ in storage.load_catalog()[0]}
            _, still = storage.unknown_dirs(listed)
        except StorageError:
            continue   # the catalog busy or unreadable: ask again
        foreign = [f for f in foreign if f in still]   # folders made since are not judged here
    return foreign


def _check_sqlite(storage: Storage, db_file: Path, report) -> None:
    with no_writer(db_file.parent) as alone:
        if alone:  # a writer appends to the log meanwhile: its new frames would look like damage
            try:
                problem = storage.wal_problem()
            except (OSError, sqlite3.Error) as exc:
                problem = f"cannot be read ({exc})"
            if problem:
                report(db_file.with_name(db_file.name + "-wal"), "catalog log", problem)
    try:
        rows = [r[0] for r in storage.conn.execute("PRAGMA integrity_check")]
    except sqlite3.Error as exc:
        report(db_file, "catalog", f"SQLite cannot check it ({exc})")
        return
    if rows != ["ok"]:
        report(db_file, "catalog", "SQLite integrity check: " + "; ".join(rows[:3]))
    try:
        entries = storage.conn.execute("SELECT seq, cid, payload FROM log ORDER BY seq")
        for seq, cid, payload in entries:
            try:
                codec.decode_payload(payload, f"write log entry {seq}")
            except StorageError as exc:
                report(db_file, "log", f"{exc.message} (collection id {cid})")
    except sqlite3.Error as exc:
        report(db_file, "log", f"cannot be read ({exc})")


def _check_write_log(storage: Storage, root: Path, report) -> int:
    """The wlog/ segments the catalog lists: each there, of its recorded length, every record
    whole and intact (a torn end of the newest one is the call in flight at a crash, not
    damage), and every payload decodes (from the bytes read once: a writer beside this check
    may delete the file meanwhile). A listed file that is missing is looked up again in a fresh
    read of the catalog: a live writer lets go of a segment a snapshot covers (first in the
    catalog, then the file), which is not damage."""
    try:
        registry = storage._segment_registry()
    except StorageError as exc:
        report(root / writelog.DIR, "log", f"the catalog's list of segments cannot be read ({exc.message})")
        return 0
    names = sorted(registry)
    checked = _check_unlisted_segments(storage, root, registry, report)
    for i, name in enumerate(names):
        path = root / writelog.DIR / name
        try:
            data = _read_listed(storage, path)
        except OSError as exc:
            report(path, "log", f"cannot be read ({exc})")
            continue
        if data is None:   # let go of by the writer since the list was read: covered
            continue
        checked += 1
        if data is _MISSING:
            report(path, "log", "is missing (the catalog lists it: it holds acknowledged writes)")
            continue
        sealed = registry[name]
        if sealed is not None and len(data) != sealed:
            report(path, "log", f"is damaged: {len(data)} bytes, the catalog records {sealed}")
            continue
        newest = i == len(names) - 1 and sealed is None
        records, end, outcome = writelog.scan_segment(path, data, newest)
        if outcome not in (None, writelog.TORN):   # after durability="process" writes too (as SQLite's WAL)
            report(path, "log", f"holds {outcome} at byte {end} (the calls from there on are lost)")
        view = memoryview(data)
        for rec in records:
            try:
                codec.decode_payload(bytes(view[rec.offset:rec.offset + rec.length]), f"write log entry {rec.seq}")
            except StorageError as exc:
                report(rec.path, "log", f"{exc.message} (collection id {rec.cid})")
    return checked


def _check_unlisted_segments(storage: Storage, root: Path, registry: dict, report) -> int:
    """Segment files the catalog does not list: a deletion cut short leaves only covered
    records behind (the writer removes those at its next open), but one holding writes no
    snapshot covers means the catalog does not match the files, and a writer refuses to open
    (Storage._remove_leftover_segments). A live writer may have listed it since ``registry``
    was read: looked up again in fresh reads of the catalog first."""
    checked = 0
    for path in writelog.segment_files(root):
        if path.name in registry:
            continue
        checked += 1
        for attempt in range(3):
            try:
                if path.name in storage._segment_registry() or \
                        not storage.unlisted_segment_holds_writes(path):
                    break
            except StorageError:
                pass   # the catalog busy: ask again
            time.sleep(0.02 * (attempt + 1))
        else:
            report(path, "log", "is not listed by the catalog but holds writes no snapshot covers "
                                "(the catalog may be damaged or replaced by an older copy)")
    return checked


_MISSING = object()


def _read_listed(storage: Storage, path: Path, attempts: int = 3):
    """A listed segment's bytes; None when the catalog no longer lists it (the writer deleted
    it, covered by a snapshot); ``_MISSING`` when it is gone and still listed."""
    for attempt in range(attempts):
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        try:
            if path.name not in storage._segment_registry():
                return None
        except StorageError:
            pass   # the catalog busy or unreadable: ask again
        time.sleep(0.02 * (attempt + 1))
    return _MISSING


def _check_collection_settled(storage: Storage, cid: int, name: str, report, attempts: int = 5) -> int:
    """``_check_collection``, again while a live writer's checkpoint replaced the manifest
    meanwhile (and deleted files of the one before, e.g. its tombstones): only problems of a
    manifest that stayed in place are damage."""
    for attempt in range(attempts):
        found: list[tuple] = []
        before = _manifest_or_none(storage, cid)
        checked = _check_collection(storage, cid, name, lambda *a: found.append(a))
        if not found or attempt == attempts - 1 or _manifest_or_none(storage, cid) == before:
            break
        time.sleep(0.02 * (attempt + 1))
    for problem in found:
        report(*problem)
    return checked


def _manifest_or_none(storage: Storage, cid: int):
    try:
        return storage.read_manifest(cid)
    except (StorageError, OSError):
        return None


def _check_collection(storage: Storage, cid: int, name: str, report) -> int:
    cdir = storage.collection_dir(cid)
    try:
        manifest = storage.read_manifest(cid)
        storage.check_manifest(cid, name, manifest)
    except StorageError as exc:
        report(cdir / "manifest.json", "manifest", exc.message)
        return 1
    if manifest is None:  # never checkpointed: the log holds every row
        return 0
    checked = 1
    gen_dir = cdir / manifest["dir"]
    for key, ent in manifest["files"].items():
        path = gen_dir / ent["file"]
        size = np.dtype(ent["dtype"]).itemsize * int(np.prod(ent["tail"], dtype=np.int64)) * int(ent["length"])
        record = {"size": size, "crc": ent["crc"]} if "crc" in ent else {"size": size, "crc": None}
        problem = _file_problem(path, record, HEADER_BYTES)
        if problem:
            report(path, f"column {key}", problem)
        checked += 1
    try:
        storage.load_deleted(cid, manifest)
    except StorageError as exc:
        tomb = (manifest.get("deleted") or {}).get("file", "deleted.npy")
        report(gen_dir / tomb, "tombstones", exc.message)
    checked += 1
    ext = cdir / "ext"
    for fname, record in (manifest.get("ext") or {}).items():
        problem = checksum.file_problem(ext / fname, record)
        if problem:
            report(ext / fname, "index" if fname.startswith("index_") else "full-text postings", problem, REBUILT)
        checked += 1
    return checked


def _file_problem(path: Path, record: dict[str, Any], offset: int) -> str | None:
    if record["crc"] is None:  # written before checksums: only its size can be checked
        try:
            actual = path.stat().st_size
        except FileNotFoundError:
            return "is missing"
        return None if actual >= offset + record["size"] else f"is truncated ({actual} bytes)"
    return checksum.file_problem(path, record, offset)


def _short(message: str) -> str:
    """A problem without the trailing restore hint (the action column says what to do)."""
    return message.replace(f"; {RESTORE_HINT}", "").strip()
