"""``MilvusServer``: one embedb database served over the Milvus gRPC protocol.

A thread pool serves calls in parallel (reads beside writes, as the engine allows). ``stop``
lets calls in flight finish, then closes the database (checkpoint, lock released).
"""

from __future__ import annotations

import atexit
import ipaddress
import logging
import os
import threading
import warnings
from concurrent import futures
from typing import Any

from ..errors import ParamError, missing_dependency

log = logging.getLogger("embedb.server")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024   # Milvus's default grpc.serverMaxRecvSize / SendSize
DEFAULT_PORT = 19530


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class MilvusServer:
    """Serve the database at ``path`` (or ``":memory:"``) on ``host:port`` (port 0: any free).

    ``allow_remote`` must be given to bind anything but a loopback address; ``token`` and/or
    ``users_file`` turn on authentication; ``tls_cert``/``tls_key`` (PEM files) turn on TLS;
    ``read_only`` serves reads while another process may write (writes: code 2002);
    ``durability`` is the database's ("fsync" or "process", see docs/storage.md).
    """

    def __init__(self, path: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
                 token: str | None = None, users_file: str | None = None,
                 tls_cert: str | None = None, tls_key: str | None = None,
                 allow_remote: bool = False, max_workers: int | None = None,
                 read_only: bool = False, durability: str = "fsync") -> None:
        try:
            import grpc
            from pymilvus.grpc_gen import milvus_pb2_grpc
        except ImportError as exc:
            raise missing_dependency(exc.name or "grpcio", "serve") from None
        from ..client import MilvusClient
        from .auth import AuthInterceptor, Authenticator, load_users
        from .servicer import MilvusServicer

        if not _is_loopback(host) and not allow_remote:
            raise ParamError(
                f"refusing to bind {host!r}: it is reachable from other machines; pass "
                "allow_remote=True (--allow-remote) to serve beyond this machine")
        if bool(tls_cert) != bool(tls_key):
            raise ParamError("TLS needs both a certificate and a key (--tls-cert and --tls-key)")
        users = load_users(users_file) if users_file else None
        self.auth = Authenticator(token, users)
        if not _is_loopback(host) and not self.auth.enabled:
            msg = (f"embedb serve: listening on {host!r} without authentication: anyone who can "
                   "reach this port can read and change the database (use --token or --users)")
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
            log.warning(msg)
        self.host = host
        self.tls = bool(tls_cert)
        self.path = path
        # the engine's lock error surfaces here; read-only takes no lock (another process writes)
        self._client = MilvusClient(path, read_only=True) if read_only else \
            MilvusClient(path, durability=durability)
        try:
            interceptors = [AuthInterceptor(self.auth)] if self.auth.enabled else []
            workers = max_workers or min(32, (os.cpu_count() or 1) * 4)
            self._grpc = grpc.server(
                futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embedb-serve"),
                interceptors=interceptors,
                options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                         ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                         ("grpc.so_reuseport", 0),
                         # pymilvus pings every 10 s, also while idle; gRPC's default policy
                         # answers such pings with GOAWAY "too_many_pings" (as Milvus, allow them)
                         ("grpc.keepalive_permit_without_calls", 1),
                         ("grpc.http2.min_ping_interval_without_data_ms", 5000),
                         ("grpc.http2.max_ping_strikes", 0)])
            milvus_pb2_grpc.add_MilvusServiceServicer_to_server(MilvusServicer(self._client), self._grpc)
            address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            if tls_cert:
                with open(tls_key, "rb") as k, open(tls_cert, "rb") as c:
                    creds = grpc.ssl_server_credentials([(k.read(), c.read())])
                self.port = self._grpc.add_secure_port(address, creds)
            else:
                self.port = self._grpc.add_insecure_port(address)
        except Exception:
            self._client.close()
            raise
        self._stopped = threading.Event()
        self._closed = False

    @property
    def uri(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def start(self) -> "MilvusServer":
        self._grpc.start()
        log.info("embedb serve: %s on %s", self.path, self.uri)
        return self

    def stop(self, grace: float | None = 5.0) -> None:
        """Refuse new calls, let those in flight finish (up to ``grace`` s), close the database."""
        if self._closed:
            return
        self._closed = True
        with _running_lock:
            _running.discard(self)
        self._grpc.stop(grace).wait()
        self._client.close()
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    def __enter__(self) -> "MilvusServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class ServedURI(str):
    """The URI of a server running in this process; also a context manager that stops it."""

    server: MilvusServer

    def stop(self) -> None:
        self.server.stop()

    # copies are plain strings (pymilvus deep-copies connection arguments)
    def __reduce__(self) -> tuple:
        return (str, (str(self),))

    def __deepcopy__(self, memo: dict) -> str:
        return str(self)

    def __enter__(self) -> "ServedURI":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve_in_thread(path: str, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> ServedURI:
    """Serve ``path`` from threads of this process and return its URI for ``pymilvus``
    (``MilvusClient(uri=...)``, LangChain, LlamaIndex). Use it as a context manager, or call
    ``.stop()``; servers still running at exit are stopped then.

    >>> with embedb.serve_in_thread("./demo.db") as uri:
    ...     pymilvus.MilvusClient(uri=uri).list_collections()
    """
    server = MilvusServer(path, host, port, **kwargs).start()
    uri = ServedURI(server.uri)
    uri.server = server
    with _running_lock:  # kept alive until stopped, even if the caller keeps only the URI text
        _running.add(server)
    return uri


_running: set[MilvusServer] = set()
_running_lock = threading.Lock()


def _forget_parent_servers_in_fork_child() -> None:
    """A fork child gets a fresh lock (a parent thread may have held it at the fork) and no
    running servers: theirs are the parent's (their threads are not in the child), and
    stopping one at the child's exit would wait for them forever."""
    global _running_lock
    _running_lock = threading.Lock()
    _running.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_servers_in_fork_child)


@atexit.register
def _stop_running_servers() -> None:
    with _running_lock:
        servers = list(_running)
    for server in servers:
        server.stop(1.0)
