"""One writer per database: an exclusive ``flock`` on ``<db>/LOCK``.

The holder writes its pid, host name and start time into the file, so a second writer gets a
``DatabaseLockedError`` that names who holds the database. The kernel drops the lock when the
holder exits (even on SIGKILL), so a stale file never blocks anyone.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..errors import DatabaseLockedError, StorageError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "LOCK"


def _hostname() -> str:
    """This machine's name (what socket.gethostname() returns, without importing socket at
    every open: os.uname() gives it on POSIX)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def describe_holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another process (holder unknown)"
    since = info.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since)) if since else "unknown time"
    return f"pid {info.get('pid', '?')} on host {info.get('hostname', '?')} since {when}"


class WriteLock:
    """Holds the database's write lock from ``acquire()`` until ``release()``."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise DatabaseLockedError(
                    f"database {str(self.path.parent)!r} is open for writing by "
                    f"{describe_holder(self.path)}; open it with read_only=True to read it"
                ) from None
            except OSError as exc:
                os.close(fd)
                raise StorageError(f"cannot lock {str(self.path)!r}: {exc}") from None
        info = {"pid": os.getpid(), "hostname": _hostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None
