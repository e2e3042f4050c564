"""Real Milvus servers for the remote-backend and migrate tests, one per test session.

Targets (the same test program runs against each, through the ``milvus_target`` fixture):

* ``milvus-2.5``: the C++ Milvus server (segcore, knowhere) shipped in the milvus-lite 2.5.1
  wheel, installed beside the venv by ``make test`` (``.venv/milvus-lite-2.5.1``) and started as a
  child process on a free port. Skipped, with the reason, only where the wheel cannot be
  installed.
* ``milvus-lite-3``: Milvus Lite 3.x's gRPC server (``milvus_lite.adapter.grpc``) in a thread.
* ``embedb-serve``: ``embedb serve`` (``embedb.serve_in_thread``) in a thread.

Servers are shared by the tests of a session, so each test works in collections of its own
(``unique_name``). :data:`FEATURES` lists what each target implements; ``require`` skips a test
with the reason where a target lacks what the test needs.
"""

from __future__ import annotations

import atexit
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

TARGETS = ("milvus-2.5", "milvus-lite-3", "embedb-serve")

# What each server implements, found by running these tests against it.
_ALL = {"partitions", "aliases", "properties", "nullable", "default_value", "int8_vector", "hnsw",
        "rename", "run_analyzer", "describe_functions", "bm25", "float16_vector", "binary_vector",
        "varchar_array", "english_analyzer"}
FEATURES = {
    # milvus-lite 2.5.1's server answers UNIMPLEMENTED for partitions, aliases, properties,
    # rename and run_analyzer; indexes FLAT, IVF_FLAT and AUTOINDEX only; no nullable/defaults.
    "milvus-2.5": {"bm25", "float16_vector", "binary_vector", "varchar_array", "english_analyzer"},
    # Milvus Lite 3.2's server: FLOAT_VECTOR and SPARSE_FLOAT_VECTOR are its only vector types,
    # it describes an ARRAY of VARCHAR without its max_length and has no "english" analyzer.
    "milvus-lite-3": _ALL - {"run_analyzer", "int8_vector", "float16_vector", "binary_vector",
                             "varchar_array", "english_analyzer"},
    "embedb-serve": set(_ALL),
}


@dataclass
class Target:
    name: str
    uri: str

    def supports(self, feature: str) -> bool:
        return feature in FEATURES[self.name]

    def require(self, *features: str) -> None:
        missing = [f for f in features if not self.supports(f)]
        if missing:
            pytest.skip(f"{self.name} does not implement {', '.join(missing)}")


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _lite2_binary_or_skip() -> None:
    from embedb.migrate.servers import LITE2_VERSION, install_lite2, lite2_binary

    if lite2_binary() is not None:
        return
    target = Path(sys.prefix) / f"milvus-lite-{LITE2_VERSION}"
    try:
        install_lite2(target)
    except Exception as error:  # no network, no wheel for this platform
        pytest.skip(f"the milvus-lite {LITE2_VERSION} wheel (the Milvus server binary) cannot be "
                    f"installed here: {error}")
    if lite2_binary() is None:
        pytest.skip(f"the milvus-lite {LITE2_VERSION} wheel installed no server binary")


def start_target(name: str, workdir: Path):
    """Start target ``name`` with its data under ``workdir``; returns (uri, stop)."""
    pytest.importorskip("pymilvus", reason="the remote backend needs pymilvus (embedb[remote])")
    from embedb.migrate import servers

    if name == "milvus-2.5":
        _lite2_binary_or_skip()
        server = servers.start_lite2(workdir / "milvus25.db")
        return server.uri, server.stop
    if name == "milvus-lite-3":
        if not servers.lite3_available():
            pytest.skip("milvus-lite 3.x is not installed (pip install 'embedb[reference]')")
        server = servers.start_lite3(workdir / "lite3.db")
        return server.uri, server.stop
    if name == "embedb-serve":
        try:
            from embedb.server import serve_in_thread
        except ImportError as error:
            pytest.skip(f"embedb serve is not available in this build: {error}")
        uri = serve_in_thread(str(workdir / "served.db"))
        return str(uri), uri.stop
    raise ValueError(f"unknown target {name!r}; targets: {TARGETS}")


class _Servers:
    """The servers started in this session (shared by every module that uses the fixtures)."""

    def __init__(self) -> None:
        self.running: dict[str, tuple[str, object]] = {}

    def get(self, name: str, factory: pytest.TempPathFactory) -> Target:
        if name not in self.running:
            self.running[name] = start_target(name, factory.mktemp(name.replace(".", "")))
        return Target(name, self.running[name][0])

    def stop_all(self) -> None:
        while self.running:
            _name, (_uri, stop) = self.running.popitem()
            stop()


SERVERS = _Servers()
# Stopped when the test process exits: a session fixture's teardown could stop a server that
# another fixture (the same target under another name) still hands out.
atexit.register(SERVERS.stop_all)


@pytest.fixture(scope="session", params=TARGETS)
def milvus_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Target:
    """Each server target in turn (started once per session)."""
    return SERVERS.get(request.param, tmp_path_factory)


@pytest.fixture(scope="session")
def lite3_target(tmp_path_factory: pytest.TempPathFactory) -> Target:
    """Milvus Lite 3's server: the target that implements partitions, aliases and properties."""
    return SERVERS.get("milvus-lite-3", tmp_path_factory)


@pytest.fixture(scope="session")
def milvus25_target(tmp_path_factory: pytest.TempPathFactory) -> Target:
    """The C++ Milvus server of milvus-lite 2.5.1."""
    return SERVERS.get("milvus-2.5", tmp_path_factory)
