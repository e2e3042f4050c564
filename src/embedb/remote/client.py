"""``RemoteMilvusClient``: embedb's ``MilvusClient`` interface over a Milvus server.

``embedb.MilvusClient("http://host:19530")`` returns one of these (see ``client/base.py``): every
call goes to the server through pymilvus (``pip install "embedb[remote]"``). This class only
translates: embedb objects out (schemas, index params, requests, rankers), embedb result shapes
and errors back, and a refusal, before anything is sent, of features only embedb has. The
server decides every behaviour, as the local engine does for a path (one interface, two
backends, as qdrant-client's ``QdrantLocal``/``QdrantRemote``).
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import MilvusException, ParamError
from ..schema import CollectionSchema
from . import translate as T
from .local_only import check_field, check_schema

REMOTE_SCHEMES = ("http://", "https://", "tcp://", "grpc://", "grpcs://", "unix:")
# pymilvus speaks http(s):// and unix:; tcp:// and grpc(s):// are the same gRPC endpoint.
_SCHEME_ALIASES = {"tcp://": "http://", "grpc://": "http://", "grpcs://": "https://"}
# Connection options pymilvus understands (TLS and gRPC tuning), passed through unchanged.
CONNECTION_OPTIONS = frozenset({"secure", "server_pem_path", "server_name", "client_pem_path",
                                "client_key_path", "ca_pem_path", "keep_alive", "grpc_options",
                                "dedicated"})


def is_remote_uri(uri: Any) -> bool:
    return isinstance(uri, str) and uri.strip().lower().startswith(REMOTE_SCHEMES)


def server_uri(uri: str) -> str:
    text = uri.strip()
    for alias, scheme in _SCHEME_ALIASES.items():
        if text.lower().startswith(alias):
            return scheme + text[len(alias):]
    return text


def _quiet_pymilvus_logging() -> None:
    """pymilvus logs every failed call with a traceback before raising it; this client raises
    each failure as an embedb error, so while pymilvus's logger is at the WARNING level pymilvus
    sets for itself (the program did not choose one), only critical messages are shown."""
    import logging

    logger = logging.getLogger("pymilvus")
    if logger.level in (logging.NOTSET, logging.WARNING):
        logger.setLevel(logging.CRITICAL)


def _same(result: Any) -> Any:
    return result


# method -> how its result comes back (everything else is returned as pymilvus gives it)
_RESULTS: dict[str, Callable[[Any], Any]] = {
    "search": T.search_result,
    "hybrid_search": T.search_result,
    "query": T.query_result,
    "get": T.query_result,
    "insert": lambda r: T.write_result(r, "insert_count"),
    "upsert": lambda r: T.write_result(r, "upsert_count"),
    "delete": lambda r: T.write_result(r, "delete_count"),
    "describe_collection": T.describe_collection,
    "describe_index": T.describe_index,
    "get_load_state": T.load_state,
}

# The embedb MilvusClient surface sent to the server with argument and result translation.
_FORWARDED = (
    "drop_collection", "has_collection", "list_collections", "rename_collection",
    "truncate_collection", "get_collection_stats", "load_collection", "release_collection",
    "refresh_load", "flush", "compact", "get_compaction_state", "get_server_version",
    "insert", "upsert", "delete", "get", "query",
    "search", "hybrid_search",
    "create_index", "list_indexes", "describe_index", "drop_index",
    "create_partition", "drop_partition", "has_partition", "list_partitions",
    "get_partition_stats", "load_partitions", "release_partitions",
    "create_alias", "drop_alias", "alter_alias", "describe_alias", "list_aliases",
    "describe_collection", "get_load_state", "run_analyzer",
    "alter_collection_properties", "drop_collection_properties", "alter_collection_field",
)


class RemoteMilvusClient:
    """A client for a Milvus server (standalone, distributed, Zilliz Cloud, Milvus Lite's
    server or ``embedb serve``) with embedb's ``MilvusClient`` methods and result shapes.

    >>> client = MilvusClient("http://localhost:19530", token="root:Milvus")  # doctest: +SKIP
    """

    def __init__(self, uri: str, user: str = "", password: str = "", db_name: str = "",
                 token: str = "", timeout: float | None = None, **kwargs: Any) -> None:
        self._client = None
        self._uri = uri
        if kwargs.pop("read_only", False):
            raise ParamError(
                "read_only=True is a local-only option (it opens an embedb database without its "
                "write lock); a Milvus server controls who writes with users and roles")
        unknown = set(kwargs) - CONNECTION_OPTIONS
        if unknown:
            raise ParamError(f"MilvusClient({uri!r}) got unexpected keyword argument(s) "
                             f"{sorted(unknown)}; connection options: {sorted(CONNECTION_OPTIONS)}")
        pm = T.pymilvus_module()
        _quiet_pymilvus_logging()
        try:
            self._client = pm.MilvusClient(uri=server_uri(uri), user=user, password=password,
                                           db_name=db_name or "", token=token, timeout=timeout,
                                           **kwargs)
        except Exception as error:
            raise T.embedb_error(error, uri, "connect") from error

    # schema builders: embedb objects, exactly as the local client ------------------------------
    @staticmethod
    def create_schema(**kwargs: Any) -> CollectionSchema:
        from ..client.collections import CollectionsMixin

        return CollectionsMixin.create_schema(**kwargs)

    @staticmethod
    def create_field_schema(name: str, data_type: Any, desc: str = "", **kwargs: Any) -> Any:
        from ..client.collections import CollectionsMixin

        return CollectionsMixin.create_field_schema(name, data_type, desc, **kwargs)

    @staticmethod
    def prepare_index_params(field_name: str = "", **kwargs: Any) -> Any:
        from ..client.indexes import IndexMixin

        return IndexMixin.prepare_index_params(field_name, **kwargs)

    # calls that need a look before they go ------------------------------------------------------
    def create_collection(self, collection_name: str, dimension: int | None = None,
                          *args: Any, **kwargs: Any) -> None:
        schema = kwargs.get("schema")
        if isinstance(schema, CollectionSchema):
            check_schema(schema, collection_name)
        return self._call("create_collection", (collection_name, dimension) + args, kwargs)

    def add_collection_field(self, collection_name: str, field_name: str, data_type: Any,
                             desc: str = "", timeout: float | None = None, **kwargs: Any) -> None:
        from ..schema import FieldSchema

        check_field(FieldSchema(field_name, data_type, desc, **{
            k: v for k, v in kwargs.items() if k in ("analyzer_params", "multi_analyzer_params")}),
            collection_name)
        return self._call("add_collection_field",
                          (collection_name, field_name, data_type, desc, timeout), kwargs)

    def query_iterator(self, *args: Any, **kwargs: Any) -> "RemoteIterator":
        return RemoteIterator(self._call("query_iterator", args, kwargs), T.query_result, self)

    def search_iterator(self, *args: Any, **kwargs: Any) -> "RemoteIterator":
        return RemoteIterator(self._call("search_iterator", args, kwargs), _search_page, self)

    # lifetime ---------------------------------------------------------------------------------------
    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> "RemoteMilvusClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._client is None else "open"
        return f"MilvusClient(uri={self._uri!r}, {state})"

    @property
    def uri(self) -> str:
        return self._uri

    # the one place a call crosses to the server ----------------------------------------------------
    def _call(self, method: str, args: tuple, kwargs: dict) -> Any:
        client = self._client
        if client is None:
            raise MilvusException("the client is closed; create a new MilvusClient to reconnect")
        args = tuple(T.to_pymilvus(a) for a in args)
        kwargs = {k: T.to_pymilvus(v) for k, v in kwargs.items()}
        try:
            result = getattr(client, method)(*args, **kwargs)
        except MilvusException:
            raise
        except Exception as error:
            raise T.embedb_error(error, self._uri, method) from error
        return _RESULTS.get(method, _same)(result)

    def __getattr__(self, name: str) -> Any:
        """Any other pymilvus ``MilvusClient`` method (databases, users and roles, resource
        groups...), sent to the server with the same translation."""
        if name.startswith("_"):
            raise AttributeError(name)
        pm = T.pymilvus_module()
        if not callable(getattr(pm.MilvusClient, name, None)):
            raise AttributeError(f"'MilvusClient' object has no attribute {name!r}")
        return lambda *args, **kwargs: self._call(name, args, kwargs)


def _forwarder(name: str) -> Callable[..., Any]:
    def method(self: RemoteMilvusClient, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, args, kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``{name}`` on the Milvus server (see pymilvus's ``MilvusClient.{name}``)."
    return method


for _name in _FORWARDED:
    setattr(RemoteMilvusClient, _name, _forwarder(_name))


def _search_page(page: Any) -> Any:
    from ..results import Hits

    return Hits(T._hit(h) for h in page)


class RemoteIterator:
    """A pymilvus query/search iterator whose batches come back in embedb's shapes."""

    def __init__(self, inner: Any, convert: Callable[[Any], Any], owner: RemoteMilvusClient) -> None:
        self._inner, self._convert, self._owner = inner, convert, owner

    def next(self) -> Any:
        try:
            page = self._inner.next()
        except MilvusException:
            raise
        except Exception as error:
            raise T.embedb_error(error, self._owner.uri, "iterator.next") from error
        return self._convert(page)

    def close(self) -> None:
        self._inner.close()

    def __iter__(self):
        while True:
            batch = self.next()
            if not batch:
                return
            yield batch
