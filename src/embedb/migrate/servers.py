"""Starting Milvus servers over Milvus Lite ``.db`` files, so migrate can read them (and the tests
can run against real Milvus server code).

* A Milvus Lite 2.x ``.db`` is one SQLite file that only the C++ Milvus server shipped in the
  ``milvus-lite`` 2.x wheel opens. We run that binary (``milvus DBFILE ADDRESS LOGLEVEL``) as a
  child process, from a side install (``pip install --no-deps --target DIR milvus-lite==2.5.1``)
  named by ``$EMBEDB_MILVUS_LITE2`` (or ``.venv/milvus-lite-2.5.1`` beside the checkout), or from
  an importable ``milvus_lite`` 2.x.
* A Milvus Lite 3.x ``.db`` is a directory that ``milvus_lite`` 3.x serves over gRPC from a thread.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import MilvusException

LITE2_VERSION = "2.5.1"
LITE2_ENV = "EMBEDB_MILVUS_LITE2"
_INSTALL_HINT = (f'pip install --no-deps --target DIR milvus-lite=={LITE2_VERSION} and set '
                 f'{LITE2_ENV}=DIR')


@dataclass
class RunningServer:
    """A started server: its URI and how to stop it."""

    uri: str
    stop: Callable[[], None]
    pid: int | None = None
    info: dict = field(default_factory=dict)

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lite2_candidates() -> list[Path]:
    """Folders that may hold a milvus-lite 2.x side install (``DIR/milvus_lite/lib/milvus``)."""
    out = []
    if os.environ.get(LITE2_ENV):
        out.append(Path(os.environ[LITE2_ENV]))
    out.append(Path(sys.prefix) / f"milvus-lite-{LITE2_VERSION}")
    try:
        import milvus_lite  # a 2.x install ships lib/milvus inside the package

        out.append(Path(milvus_lite.__file__).resolve().parents[1])
    except ImportError:
        pass
    return out


def lite2_binary() -> Path | None:
    for base in lite2_candidates():
        binary = base / "milvus_lite" / "lib" / "milvus"
        if binary.is_file():
            if not os.access(binary, os.X_OK):
                binary.chmod(binary.stat().st_mode | 0o755)  # wheels do not keep the x bit
            return binary
    return None


def _wait_ready(uri: str, proc: subprocess.Popen | None, timeout: float, what: str) -> None:
    """Poll until a pymilvus client can list collections."""
    from pymilvus import MilvusClient

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise MilvusException(f"{what} exited with code {proc.returncode} before it was ready")
        try:
            client = MilvusClient(uri, timeout=2)
            try:
                client.list_collections()
                return
            finally:
                client.close()
        except Exception as error:  # not listening yet
            last = error
            time.sleep(0.2)
    raise MilvusException(f"{what} was not ready after {timeout:.0f} s: {last}")


def _die_with_parent() -> None:
    """In the server child (Linux): end it when the process that started it dies, even by
    SIGKILL, so an interrupted migration leaves no server holding the database file."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_lite2(db_file: str | Path, address: str | None = None, timeout: float = 60.0,
                log_level: str = "ERROR") -> RunningServer:
    """Run the milvus-lite 2.x server binary over ``db_file``; ``address`` is ``host:port`` or
    ``unix:/path.sock`` (default: a free local port)."""
    binary = lite2_binary()
    if binary is None:
        raise MilvusException(
            f"reading a Milvus Lite 2.x database needs the Milvus server binary of the milvus-lite "
            f"{LITE2_VERSION} wheel; {_INSTALL_HINT}")
    db_file = Path(db_file).resolve()
    if address is None:
        address = f"127.0.0.1:{free_port()}"
    uri = address if address.startswith("unix:") else f"http://{address}"
    lib = str(binary.parent)
    env = dict(os.environ, LD_LIBRARY_PATH=lib + os.pathsep + os.environ.get("LD_LIBRARY_PATH", ""))
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([str(binary), str(db_file), address, log_level], env=env,
                            cwd=str(db_file.parent), stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()

    try:
        _wait_ready(uri, proc, timeout, f"the Milvus Lite {LITE2_VERSION} server ({binary})")
    except BaseException:
        stop()
        raise
    return RunningServer(uri, stop, pid=proc.pid, info={"kind": "milvus-lite-2", "binary": str(binary)})


def lite3_available() -> bool:
    try:
        import milvus_lite
    except ImportError:
        return False
    major = str(getattr(milvus_lite, "__version__", "0")).split(".")[0]
    return major.isdigit() and int(major) >= 3


def start_lite3(data_dir: str | Path, timeout: float = 30.0) -> RunningServer:
    """Serve a Milvus Lite 3.x database directory over gRPC from a thread of this process."""
    if not lite3_available():
        raise MilvusException("reading a Milvus Lite 3.x database needs milvus-lite 3.x: "
                              'pip install "milvus-lite>=3.2"')
    from milvus_lite.adapter.grpc.server import start_server_in_thread

    server, db, port = start_server_in_thread(data_dir=str(data_dir), host="127.0.0.1", port=0)

    def stop() -> None:
        server.stop(grace=1).wait()
        db.close()

    uri = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(uri, None, timeout, "the Milvus Lite 3 server")
    except BaseException:
        stop()
        raise
    return RunningServer(uri, stop, info={"kind": "milvus-lite-3"})


def install_lite2(target: str | Path, wheel_dir: str | Path | None = None) -> Path:
    """``pip install --no-deps --target TARGET milvus-lite==2.5.1`` (from ``wheel_dir`` when
    given); returns the binary. Used by the Makefile and the test fixture."""
    target = Path(target)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
    if wheel_dir:
        cmd += ["--find-links", str(wheel_dir)]
    subprocess.run(cmd + [f"milvus-lite=={LITE2_VERSION}"], check=True, capture_output=True)
    binary = target / "milvus_lite" / "lib" / "milvus"
    binary.chmod(binary.stat().st_mode | 0o755)
    return binary


def is_lite2_file(path: Path) -> bool:
    """A Milvus Lite 2.x database: one SQLite file."""
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        return f.read(16) == b"SQLite format 3\x00"


def is_lite3_dir(path: Path) -> bool:
    from ..engine.storage import SQLITE_NAME

    return (path.is_dir() and not (path / SQLITE_NAME).exists() and (path / "LOCK").exists()
            and (path / "collections").is_dir())
