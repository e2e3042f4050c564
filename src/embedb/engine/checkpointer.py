"""Automatic checkpoints off the writer's path: one background thread per open database.

A write call returns once its log entry is committed (durable); when the log has grown past
``CHECKPOINT_LOG_BYTES`` the writer only wakes this thread. The thread then

1. under the database lock, takes a *snapshot job* of every changed collection: the rows
   appended since its last snapshot (views of the append-only columns, which never change
   below their length), a copy of the tombstones, the log position and generation;
2. without the database lock, under ``Database._snapshot_lock`` (which every checkpoint
   takes, after the database lock when it holds that one), appends those rows to the part
   files, fsyncs them, renames the new manifest into place and trims the log it covers --
   unless another checkpoint (flush, close, compact, truncate) came first, in which case the
   job is dropped (that checkpoint covered at least as much);
3. folds SQLite's own WAL back into its main file (SQLite's lock only).

Writers keep committing meanwhile; a job only ever covers rows that were durable before it
started, so a crash anywhere leaves the previous manifest with the full log, exactly as an
inline checkpoint does (docs/storage.md, "Opening and checkpoints"). A failure is reported
once, as a warning, and retried after another quarter of the threshold.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .database import Database


class Checkpointer:
    """The background checkpoint thread of one database (started on first use)."""

    def __init__(self, db: "Database") -> None:
        self._db = db
        self._cv = threading.Condition(threading.Lock())   # a leaf lock: held for a moment only
        self._pending = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def request(self) -> None:
        """Ask for a checkpoint soon (cheap; the caller may hold the database lock)."""
        with self._cv:
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="embedb-checkpoint", daemon=True)
                self._thread.start()
            self._pending = True
            self._cv.notify_all()

    def stop(self) -> None:
        """Let the thread end (the database is closed; it checks that before any work)."""
        with self._cv:
            self._pending = True
            self._cv.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no checkpoint is asked for or running (tests, benchmarks)."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._pending and not self._busy, timeout)

    def _run(self) -> None:
        db = self._db
        while True:
            with self._cv:
                while not self._pending:
                    self._cv.wait()
                self._pending = False
                if db._closed or db._pid != os.getpid():
                    self._cv.notify_all()
                    return
                self._busy = True
            try:
                db._background_checkpoint()
            except BaseException as exc:  # noqa: BLE001 - never let the thread die silently
                try:
                    with db._lock:
                        if not db._closed:
                            db._report_checkpoint_failure(exc)
                except BaseException:  # noqa: BLE001
                    pass
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()
