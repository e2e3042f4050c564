"""The two ends of a migration: a local embedb path, a server URI (a Milvus cluster, Zilliz
Cloud, ``embedb serve``), or (as source) a Milvus Lite ``.db`` of either generation, each opened
as a ``MilvusClient`` so the copy code sees one interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import ParamError
from ..remote.client import is_remote_uri
from .servers import is_lite2_file, is_lite3_dir, start_lite2, start_lite3


@dataclass
class Endpoint:
    spec: str                       # what the user wrote
    kind: str                       # embedb | server | milvus-lite-2 | milvus-lite-3
    client: Any                     # a MilvusClient (local or remote)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def remote(self) -> bool:
        return self.kind != "embedb"

    def describe(self) -> str:
        names = {"embedb": "embedb database", "server": "Milvus server",
                 "milvus-lite-2": "Milvus Lite 2.x database", "milvus-lite-3": "Milvus Lite 3.x database"}
        return f"{names[self.kind]} {self.spec}"

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()


def open_endpoint(spec: str, role: str, *, token: str = "", db_name: str = "",
                  **options: Any) -> Endpoint:
    """Open ``spec`` for reading (``role="source"``) or writing (``role="destination"``)."""
    from ..client import MilvusClient

    if not isinstance(spec, str) or not spec.strip():
        raise ParamError(f"migrate: the {role} must be a path or a URI, got {spec!r}")
    if is_remote_uri(spec):
        client = MilvusClient(spec, token=token, db_name=db_name, **options)
        return Endpoint(spec, "server", client, [client.close])
    path = Path(spec).expanduser()
    if is_lite2_file(path) or is_lite3_dir(path):
        if role != "source":
            raise ParamError(f"migrate: {spec!r} is a Milvus Lite database; it can be a source, "
                             "not a destination (migrate to an embedb path or a server URI)")
        server = start_lite2(path) if is_lite2_file(path) else start_lite3(path)
        try:
            client = MilvusClient(server.uri)
        except BaseException:
            server.stop()
            raise
        kind = "milvus-lite-2" if is_lite2_file(path) else "milvus-lite-3"
        return Endpoint(spec, kind, client, [server.stop, client.close])
    if role == "source" and not path.exists():
        raise ParamError(f"migrate: source {spec!r} does not exist")
    # the source is only read: no write lock, so it may be copied while another process writes
    client = MilvusClient(str(path), read_only=role == "source")
    return Endpoint(spec, "embedb", client, [client.close])


def same_place(a: str, b: str) -> bool:
    if is_remote_uri(a) or is_remote_uri(b):
        return a.strip().rstrip("/") == b.strip().rstrip("/")
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
