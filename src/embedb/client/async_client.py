"""``AsyncMilvusClient``: the :class:`MilvusClient` surface with ``async def`` methods.

.. code-block:: python

    from embedb import AsyncMilvusClient

    async with AsyncMilvusClient("./demo.db") as client:
        await client.create_collection("docs", dimension=4)
        await client.insert("docs", [{"id": 1, "vector": [0.1, 0.2, 0.3, 0.4]}])
        hits = await client.search("docs", [[0.1, 0.2, 0.3, 0.4]], limit=3)

Every engine call runs in a worker thread (``asyncio.to_thread``), so a long search, insert or
checkpoint never blocks the event loop; the sync client is thread-safe, so concurrent awaits are
fine. The wrappers are generated from :class:`MilvusClient`'s public methods, so the two clients
cannot drift apart: each async method has the sync method's name, signature and docstring.

As pymilvus's ``AsyncMilvusClient``, the constructor does not open anything: the database opens
on the first awaited call (or ``async with``), so opening errors surface there. A server URI
(``http://...``) wraps the sync client's remote backend the same way.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from typing import Any, Callable

from ..errors import MilvusException
from . import MilvusClient
from .base import _REMOTE_SCHEMES, parse_uri, refuse_foreign_database

# Sync on both clients (pymilvus defines them as class/static methods of the shared base).
_SYNC_HELPERS = ("create_schema", "create_field_schema", "prepare_index_params")
# Methods whose result is an iterator: wrapped so that each batch is fetched off the loop.
_ITERATORS = ("query_iterator", "search_iterator")
# Methods of the sync client that are not part of the async surface (lifetime is async here).
_NOT_WRAPPED = frozenset({"close"}) | frozenset(_SYNC_HELPERS)


class AsyncIterator:
    """A query/search iterator whose ``next()`` and ``close()`` are awaitable; also usable
    with ``async for batch in it``."""

    def __init__(self, sync_iterator: Any) -> None:
        self._it = sync_iterator

    async def next(self) -> list:
        """The next batch; ``[]`` once the rows run out."""
        return await asyncio.to_thread(self._it.next)

    async def close(self) -> None:
        await asyncio.to_thread(self._it.close)

    def __aiter__(self) -> "AsyncIterator":
        return self

    async def __anext__(self) -> list:
        batch = await self.next()
        if not batch:
            raise StopAsyncIteration
        return batch


class AsyncMilvusClient:
    """The :class:`MilvusClient` API with awaitable methods (see the module docstring)."""

    create_schema = staticmethod(MilvusClient.create_schema)
    create_field_schema = staticmethod(MilvusClient.create_field_schema)
    prepare_index_params = staticmethod(MilvusClient.prepare_index_params)

    def __init__(self, uri: str = ":memory:", user: str = "", password: str = "",
                 db_name: str = "", token: str = "", timeout: float | None = None,
                 **kwargs: Any) -> None:
        # a bad local URI is an error now, as in pymilvus's ConnectionConfig; a server URI goes
        # to the sync client's remote backend (pymilvus) on first use
        if not (isinstance(uri, str) and uri.strip().lower().startswith(_REMOTE_SCHEMES)):
            path = parse_uri(uri)
            if path is not None:
                refuse_foreign_database(path)
        self._uri = uri
        self._args = dict(uri=uri, user=user, password=password, db_name=db_name, token=token,
                          timeout=timeout, **kwargs)
        self._client: MilvusClient | None = None
        self._closed = False
        self._open_lock = threading.Lock()

    # lifetime -------------------------------------------------------------------------------
    def _sync_client(self) -> MilvusClient:
        """The sync client behind this one, opened on first use (runs in a worker thread)."""
        with self._open_lock:
            if self._closed:
                raise MilvusException("the client is closed; create a new AsyncMilvusClient to reconnect")
            if self._client is None:
                self._client = MilvusClient(**self._args)
            return self._client

    async def _connect(self) -> None:
        """Open the database now (pymilvus's name for the deferred connect)."""
        await asyncio.to_thread(self._sync_client)

    async def close(self) -> None:
        """Close the client; the database checkpoints when its last client closes."""
        def close() -> None:
            with self._open_lock:
                self._closed = True
                client, self._client = self._client, None
            if client is not None:
                client.close()

        await asyncio.to_thread(close)

    async def __aenter__(self) -> "AsyncMilvusClient":
        await self._connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._client is not None else "not connected")
        return f"AsyncMilvusClient(uri={self._uri!r}, {state})"

    async def _run(self, name: str, args: tuple, kwargs: dict) -> Any:
        def call() -> Any:
            return getattr(self._sync_client(), name)(*args, **kwargs)

        return await asyncio.to_thread(call)


def _async_method(name: str, sync_method: Callable) -> Callable:
    if name in _ITERATORS:
        @functools.wraps(sync_method)
        async def method(self: AsyncMilvusClient, *args: Any, **kwargs: Any) -> AsyncIterator:
            return AsyncIterator(await self._run(name, args, kwargs))
    else:
        @functools.wraps(sync_method)
        async def method(self: AsyncMilvusClient, *args: Any, **kwargs: Any) -> Any:
            return await self._run(name, args, kwargs)
    # functools.wraps sets __wrapped__, so inspect.signature() and help() show the sync
    # method's parameters; the async wrapper keeps its own coroutine-function nature
    method.__qualname__ = f"AsyncMilvusClient.{name}"
    return method


def _public_methods(cls: type) -> dict[str, Callable]:
    out = {}
    for name in dir(cls):
        if name.startswith("_") or name in _NOT_WRAPPED:
            continue
        attr = inspect.getattr_static(cls, name)
        if isinstance(attr, (staticmethod, classmethod)) or not inspect.isfunction(attr):
            continue
        out[name] = attr
    return out


for _name, _fn in _public_methods(MilvusClient).items():
    setattr(AsyncMilvusClient, _name, _async_method(_name, _fn))
del _name, _fn

__all__ = ["AsyncMilvusClient", "AsyncIterator"]
