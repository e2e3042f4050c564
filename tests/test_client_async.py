"""AsyncMilvusClient: the sync client's test scenarios run through the async client, plus
proofs that awaiting a slow call leaves the event loop free.

The port: each module listed in ``PORTED`` is loaded a second time with its ``MilvusClient``
name bound to ``SyncFacade``, a class with the sync API that drives an ``AsyncMilvusClient``
through an event loop of its own (every method call awaits the async method there), and
conftest's ``open_client`` door fixture replaced by one that opens a ``SyncFacade``. Its tests and fixtures are gathered into a ``TestAsync<module>`` class, so every
scenario of those files runs again, unchanged, through the async surface.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from embedb import AsyncMilvusClient, MilvusClient
from embedb.client.async_client import AsyncIterator
from embedb.errors import CollectionNotFoundError, MilvusException, ParamError

HERE = Path(__file__).parent
PORTED = ["test_client_collections", "test_client_data", "test_client_iterator",
          "test_client_partitions_aliases", "test_search_client", "test_client_databases",
          "test_client_properties"]
# Not ported: index-quality and white-box engine checks, which measure the engine rather than
# the client surface (they would only repeat the same engine work, slowly).
NOT_PORTED = {
    "test_search_client": {"test_ann_recall_and_filtered_recall", "test_threads_search_while_writing",
                           "test_persisted_index_is_loaded_not_rebuilt"},
}


# ---------------------------------------------------------------------------- the facade
class _FacadeIterator:
    def __init__(self, facade: "SyncFacade", it: AsyncIterator):
        self._facade, self._it = facade, it

    def next(self):
        return self._facade._await(self._it.next())

    def close(self):
        self._facade._await(self._it.close())

    def __iter__(self):
        while True:
            batch = self.next()
            if not batch:
                return
            yield batch


class SyncFacade:
    """The sync MilvusClient API, each call awaited on an AsyncMilvusClient whose event loop
    runs in a thread of its own (so the facade may be called from several threads at once)."""

    create_schema = staticmethod(AsyncMilvusClient.create_schema)
    create_field_schema = staticmethod(AsyncMilvusClient.create_field_schema)
    prepare_index_params = staticmethod(AsyncMilvusClient.prepare_index_params)

    def __init__(self, *args, **kwargs):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._async = AsyncMilvusClient(*args, **kwargs)
        try:  # the sync client opens in its constructor: surface opening errors here too
            self._await(self._async._connect())
        except BaseException:
            self._stop()
            raise

    def _await(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def __getattr__(self, name):
        if not hasattr(self._async, name):  # white-box tests reach into the sync client
            return getattr(self._async._client, name)
        attr = getattr(self._async, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        def call(*args, **kwargs):
            result = self._await(attr(*args, **kwargs))
            if isinstance(result, AsyncIterator):
                return _FacadeIterator(self, result)
            return result

        return call

    def _stop(self):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def close(self):
        if not self._loop.is_closed():
            self._await(self._async.close())
            self._stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # never wait here: the collector may run this on a loop thread (a blocking close would
        # wait for itself). Stop the loop; the sync client's own __del__ closes the database.
        try:
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._loop.stop)
        except Exception:
            pass


# The ported modules take their client from conftest's ``open_client`` (one per door); here
# the only door is the async client, with the in-process semantics of the "embedded" door.
@pytest.fixture
def door():
    return "embedded"


@pytest.fixture(autouse=True)
def _leave_warn_once_state_alone():
    """The ported scenarios must not use up embedb's once-per-process warnings (unknown
    keyword arguments) before the original test files check them."""
    from embedb import lenient

    warned = getattr(lenient, "_warned", None)
    saved = set(warned) if warned is not None else None
    yield
    if saved is not None:
        warned.clear()
        warned.update(saved)


@pytest.fixture
def open_client():
    clients = []

    def open_(uri=":memory:", **kwargs):
        client = SyncFacade(uri, **kwargs)
        clients.append(client)
        return client

    yield open_
    for c in clients:
        c.close()


def _ported_class(modname: str) -> type:
    spec = importlib.util.spec_from_file_location(f"_async_port_{modname}", HERE / f"{modname}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    mod.MilvusClient = SyncFacade  # the tests' functions read this global at call time
    skip = NOT_PORTED.get(modname, set())
    ns = {}
    for name, obj in vars(mod).items():
        marker = getattr(obj, "_fixture_function_marker", None)
        if marker is not None:  # the same fixture, declared on the class without `self`
            ns[name] = pytest.fixture(staticmethod(obj._get_wrapped_function()), scope=marker.scope,
                                      params=marker.params, autouse=marker.autouse, ids=marker.ids,
                                      name=marker.name or name)
        elif name.startswith("test_") and callable(obj) and name not in skip:
            ns[name] = staticmethod(obj)
    return type(f"TestAsync_{modname}", (), ns)


for _modname in PORTED:
    globals()[f"TestAsync_{_modname}"] = _ported_class(_modname)
del _modname


def test_the_port_runs_every_scenario():
    """Each ported class holds every test of its module (minus the listed exceptions)."""
    for modname in PORTED:
        src = (HERE / f"{modname}.py").read_text()
        cls = globals()[f"TestAsync_{modname}"]
        wanted = {line.split("(")[0][4:] for line in src.splitlines() if line.startswith("def test_")}
        wanted -= NOT_PORTED.get(modname, set())
        assert wanted and wanted <= set(vars(cls)), modname


# ---------------------------------------------------------------------------- the async surface
def test_every_public_sync_method_has_an_async_twin():
    sync_names = {n for n in dir(MilvusClient) if not n.startswith("_")}
    for name in sync_names:
        assert hasattr(AsyncMilvusClient, name), name
        attr = getattr(AsyncMilvusClient, name)
        if name in ("create_schema", "create_field_schema", "prepare_index_params"):
            assert not inspect.iscoroutinefunction(attr)  # sync in pymilvus too
        elif name == "close":
            assert inspect.iscoroutinefunction(attr)
        else:
            assert inspect.iscoroutinefunction(attr), name
            # discoverable: the sync method's parameters and docstring
            assert inspect.signature(attr) == inspect.signature(getattr(MilvusClient, name))
            assert attr.__doc__ == getattr(MilvusClient, name).__doc__


def test_context_manager_close_and_reopen(tmp_path):
    path = str(tmp_path / "a.db")

    async def scenario():
        async with AsyncMilvusClient(path) as c:
            await c.create_collection("c", dimension=2)
            await c.insert("c", [{"id": i, "vector": [float(i), 1.0]} for i in range(10)])
        with pytest.raises(MilvusException, match="closed"):
            await c.list_collections()
        c2 = AsyncMilvusClient(path)
        try:
            res = await c2.query("c", filter="id >= 5", output_fields=["id"])
            assert [r["id"] for r in res] == [5, 6, 7, 8, 9]
        finally:
            await c2.close()
        await c2.close()  # a second close is harmless

    asyncio.run(scenario())


def test_errors_are_the_sync_clients():
    async def scenario():
        async with AsyncMilvusClient(":memory:") as c:
            with pytest.raises(CollectionNotFoundError):
                await c.describe_collection("nope")
            with pytest.raises(ParamError):
                await c.create_collection("x")  # neither dimension nor schema

    asyncio.run(scenario())
    with pytest.raises(ParamError, match="parent directory"):
        AsyncMilvusClient("/no/such/dir/x.db")  # a bad path fails at construction


def test_async_iterators():
    async def scenario():
        async with AsyncMilvusClient(":memory:") as c:
            await c.create_collection("c", dimension=2)
            await c.insert("c", [{"id": i, "vector": [1.0, float(i)]} for i in range(25)])
            it = await c.query_iterator("c", batch_size=10, output_fields=["id"])
            seen = [r["id"] async for batch in it for r in batch]
            assert seen == list(range(25))
            it = await c.search_iterator("c", [[1.0, 0.5]], batch_size=7, limit=20)
            got = []
            while batch := await it.next():
                got.extend(h["id"] for h in batch)
            await it.close()
            assert len(got) == 20 and len(set(got)) == 20

    asyncio.run(scenario())


# ---------------------------------------------------------------------------- the loop is free
def test_slow_call_does_not_block_the_loop():
    """While a search holds the engine for a while, another coroutine keeps ticking."""
    rng = np.random.default_rng(0)
    gate = threading.Event()

    async def scenario():
        async with AsyncMilvusClient(":memory:") as c:
            await c.create_collection("c", dimension=8)
            await c.insert("c", [{"id": i, "vector": rng.random(8).tolist()} for i in range(200)])
            sync = c._client

            # hold the engine until the ticker has run: a blocking call would deadlock here
            original = sync.search

            def slow_search(*args, **kwargs):
                assert gate.wait(10), "the event loop was blocked while the engine worked"
                return original(*args, **kwargs)

            sync.search = slow_search
            ticks = 0

            async def ticker():
                nonlocal ticks
                for _ in range(5):
                    await asyncio.sleep(0)
                    ticks += 1
                gate.set()

            res, _ = await asyncio.gather(c.search("c", [rng.random(8).tolist()], limit=3), ticker())
            assert ticks == 5 and len(res[0]) == 3

    asyncio.run(scenario())


def test_concurrent_writers_and_readers():
    """Many awaits in flight at once give the same result as running them one by one."""
    async def scenario():
        async with AsyncMilvusClient(":memory:") as c:
            await c.create_collection("c", dimension=2)
            await asyncio.gather(*(c.insert("c", [{"id": k * 100 + i, "vector": [1.0, float(i)]}
                                                  for i in range(50)]) for k in range(8)))
            counts = await asyncio.gather(*(c.query("c", filter=f"id >= {k * 100}",
                                                    output_fields=["count(*)"]) for k in range(8)))
            assert [r[0]["count(*)"] for r in counts] == [(8 - k) * 50 for k in range(8)]

    start = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - start < 30
