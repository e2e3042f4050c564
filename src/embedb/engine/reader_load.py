"""A read-only open's (and refresh's) view of the files: every collection's snapshot and the
write log after it, all of one moment of the writer, taken without any lock the writer waits
for and without retrying the expensive part (replaying the log onto the columns).

One pass reads, in this order:

1. the catalog (collections, partitions, aliases, databases);
2. each collection's snapshot: its manifest, its column files mapped, its tombstones read
   (``read_snapshot``);
3. the write log (``LogView``): SQLite's table ``log``, every listed segment (each kept open,
   so a segment the writer deletes afterwards stays readable), then table ``log`` again;
4. each collection's checkpoint record, and the catalog again.

Why that is one moment. A snapshot covers log entries up to its ``log_seq``, and the writer
removes a log entry (deletes its segment, or trims table ``log``) only after the catalog
records a snapshot covering it, which it does after renaming that snapshot's manifest. So if
step 4 finds a collection's record no newer than the manifest read in step 2, none of that
collection's entries after the manifest were removed before step 4, and step 3 (before it) read
them all. Step 3 starts after every manifest was read, so each manifest covers a prefix of what
step 3 read: every collection is at the moment step 3 ended (the log is appended in sequence
order, one call at a time). A record newer than the manifest means a checkpoint raced the pass
(it may have removed entries the reader needs): ``stale``, and the caller reads again. Those
passes are cheap (manifests, tombstones, the log appended since the last scan); the replay
happens once, after a pass found nothing moved, from the segments it holds open.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Iterator, NamedTuple

import numpy as np

from .storage import Storage


class Snapshot(NamedTuple):
    """A collection's stored snapshot as a reader holds it (nothing further read from disk
    for it: the column files are mapped, so the writer's deletions do not reach them)."""
    manifest: dict[str, Any] | None
    parts: dict[str, dict[str, np.ndarray]]
    verifiers: dict[str, Any]
    deleted: np.ndarray | None

    @property
    def log_seq(self) -> int:
        return 0 if self.manifest is None else int(self.manifest["log_seq"])

    @property
    def generation(self) -> int:
        return 0 if self.manifest is None else int(self.manifest["generation"])


def read_snapshot(storage: Storage, cid: int, name: str) -> Snapshot:
    """The collection's latest snapshot (a StorageError naming the file when damaged or
    missing; a missing or stale manifest against the catalog's record too)."""
    manifest = storage.read_manifest(cid)
    storage.check_manifest(cid, name, manifest)
    if manifest is None:
        return Snapshot(None, {}, {}, None)
    parts, verifiers = storage.load_parts(cid, manifest)
    return Snapshot(manifest, parts, verifiers, storage.load_deleted(cid, manifest))


def stale(storage: Storage, cid: int, snapshot: Snapshot) -> bool:
    """Whether the catalog now records a newer snapshot than ``snapshot``: a checkpoint raced
    the pass, and log entries after ``snapshot`` may be gone."""
    record = storage.checkpoint_record(cid)
    return record is not None and (record[0] > snapshot.log_seq or record[1] > snapshot.generation)


class LogView:
    """The write log as one pass read it: the records of every listed segment and the rows of
    SQLite's table ``log``, the segments held open until ``release``. ``moved`` is true when
    table ``log`` changed while the segments were read (a partition drop committed then: the
    two would not be one prefix of the log)."""

    def __init__(self, storage: Storage):
        self._storage = storage
        rows = storage.log_table_rows()
        self.records = storage.reader_records()
        again = storage.log_table_rows(payloads=False)
        self.moved = [r[:2] for r in again] != [r[:2] for r in rows]
        self._rows = rows
        self._by_cid: dict[int, list[tuple[int, Any]]] | None = None   # grouped on first use

    def entries(self, cid: int, after: int) -> Iterator[tuple[int, bytes]]:
        """The collection's entries after sequence number ``after``, in order, each payload
        read as it is reached (one record in memory at a time)."""
        if self._by_cid is None:   # both sources split by collection once, not per collection
            by_cid: dict[int, list[tuple[int, Any]]] = {}
            for seq, c, payload in self._rows:
                by_cid.setdefault(c, []).append((seq, payload))
            for r in self.records:
                by_cid.setdefault(r.cid, []).append((r.seq, r))
            for items in by_cid.values():
                items.sort(key=itemgetter(0))
            self._by_cid = by_cid
        payload = self._storage.reader_payload
        for seq, item in self._by_cid.get(cid, ()):
            if seq > after:
                yield seq, item if isinstance(item, bytes) else payload(item)

    def release(self) -> None:
        self._storage.release_reader_log()
