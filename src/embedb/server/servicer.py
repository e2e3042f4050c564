"""``MilvusServicer``: every Milvus RPC dispatched to one call on embedb's ``MilvusClient``.

Each handler reads its request, calls the client through a translator and wraps the answer;
``@rpc`` turns any exception into the response's status (and one log line). Methods embedb has
no counterpart for answer "unsupported operation" (code 3000), built from the service's own
descriptor so every one of them returns the message type its caller expects.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import logging
import re
import time
from typing import Any, Callable, Iterator

import grpc
from google.protobuf import message_factory
from pymilvus.grpc_gen import common_pb2, milvus_pb2, milvus_pb2_grpc, schema_pb2

from .. import __version__
from ..errors import IndexNotFoundError, ParamError
from ..schema import DataType
from .iterators import SearchIteratorSessions
from .status import OK, OK_WITH_COST, from_exception, not_supported
from .translate import records, results, schema, search

log = logging.getLogger("embedb.server")
log.addHandler(logging.NullHandler())  # a library: silent unless the application logs

_SERVICE = milvus_pb2.DESCRIPTOR.services_by_name["MilvusService"]
RESPONSE_TYPES: dict[str, type] = {
    m.name: message_factory.GetMessageClass(m.output_type) for m in _SERVICE.methods}

DEFAULT_DB = "default"
# their request's db_name is the database they act on, not the one they run in
_DATABASE_METHODS = frozenset({"CreateDatabase", "DropDatabase", "ListDatabases",
                               "DescribeDatabase", "AlterDatabase"})


def _status_field(cls: type) -> str | None:
    """The name of a response's Status field (``status`` mostly, ``alter_status``...)."""
    for f in cls.DESCRIPTOR.fields:
        if f.message_type is not None and f.message_type.full_name == common_pb2.Status.DESCRIPTOR.full_name:
            return f.name
    return None


def _respond(method: str, st: common_pb2.Status) -> Any:
    cls = RESPONSE_TYPES[method]
    if cls is common_pb2.Status:
        return st
    name = _status_field(cls)
    if name is None:  # no status to carry the error: fail the call at the gRPC level instead
        raise _CallFailed(st)
    return cls(**{name: st})


def rpc(fn: Callable) -> Callable:
    """Run a handler in the Milvus database the call names; any exception becomes the error
    status of the method's response type."""
    method = fn.__name__

    @functools.wraps(fn)
    def handler(self: "MilvusServicer", request: Any, context: Any) -> Any:
        start = time.perf_counter()
        try:
            db = "" if method in _DATABASE_METHODS else database_of(request, context)
            with in_database(self.client, db):
                response = fn(self, request, context)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s ok in %.2f ms", method, (time.perf_counter() - start) * 1e3)
            return response
        except Exception as exc:  # every failure is an answer, never a dropped connection
            st = from_exception(exc)
            if st.code == 1:
                log.exception("%s failed: code=%d %s", method, st.code, st.reason)
            else:
                log.warning("%s failed: code=%d %s", method, st.code, st.reason)
            try:
                return _respond(method, st)
            except _CallFailed:
                context.abort(grpc.StatusCode.UNKNOWN, f"code={st.code}: {st.reason}")

    return handler


class _CallFailed(Exception):
    """An error for a response type that has no Status field."""


def database_of(request: Any, context: Any) -> str:
    """The database a call names: the request's ``db_name``, else the ``dbname`` metadata
    pymilvus sends for a client made with ``db_name=`` (or after ``use_database``)."""
    db = getattr(request, "db_name", "") or ""
    if not db and context is not None:
        for key, value in context.invocation_metadata() or ():
            if key == "dbname" and value:
                return value
    return db


@contextlib.contextmanager
def in_database(client: Any, db: str) -> Iterator[None]:
    """Run the client's calls of this thread in database ``db``: what its ``db_name=`` keyword
    does for one call, for a whole handler (which may make several calls)."""
    if not db or db == DEFAULT_DB:
        yield
        return
    from ..client import databases

    client.describe_database(db)  # DatabaseNotFoundError when there is none
    previous = databases.call_db_name()
    databases._call.db_name = db
    try:
        yield
    finally:
        databases._call.db_name = previous


class MilvusServicer(milvus_pb2_grpc.MilvusServiceServicer):
    def __init__(self, client: Any) -> None:
        self.client = client
        self._iterators = SearchIteratorSessions()

    # helpers -------------------------------------------------------------------------------
    @staticmethod
    def _schema(client: Any, name: str) -> Any:
        return client._collection(name).schema

    # connection ----------------------------------------------------------------------------
    @rpc
    def Connect(self, request, context):
        return milvus_pb2.ConnectResponse(
            status=OK, identifier=int(time.time() * 1000) & 0x7FFFFFFF,
            server_info=common_pb2.ServerInfo(build_tags=f"embedb-{__version__}",
                                              deploy_mode="EMBEDDED"))

    @rpc
    def GetVersion(self, request, context):
        return milvus_pb2.GetVersionResponse(status=OK, version=f"embedb-{__version__}")

    @rpc
    def CheckHealth(self, request, context):
        return milvus_pb2.CheckHealthResponse(status=OK, isHealthy=True)

    @rpc
    def AllocTimestamp(self, request, context):
        return milvus_pb2.AllocTimestampResponse(status=OK, timestamp=_session_ts())

    # databases -----------------------------------------------------------------------------
    @rpc
    def CreateDatabase(self, request, context):
        self.client.create_database(request.db_name, schema.kv_dict(request.properties) or None)
        return OK

    @rpc
    def DropDatabase(self, request, context):
        self.client.drop_database(request.db_name)
        return OK

    @rpc
    def ListDatabases(self, request, context):
        return milvus_pb2.ListDatabasesResponse(status=OK, db_names=list(self.client.list_databases()))

    @rpc
    def DescribeDatabase(self, request, context):
        name = request.db_name or DEFAULT_DB
        props = dict(self.client.describe_database(name))
        props.pop("name", None)
        return milvus_pb2.DescribeDatabaseResponse(
            status=OK, db_name=name,
            properties=[common_pb2.KeyValuePair(key=str(k), value=str(v)) for k, v in props.items()])

    @rpc
    def AlterDatabase(self, request, context):
        if request.delete_keys:
            self.client.drop_database_properties(request.db_name, list(request.delete_keys))
        if request.properties:
            self.client.alter_database_properties(request.db_name, schema.kv_dict(request.properties))
        return OK

    # collections ---------------------------------------------------------------------------
    @rpc
    def CreateCollection(self, request, context):
        proto = schema_pb2.CollectionSchema()
        proto.ParseFromString(request.schema)
        kwargs: dict[str, Any] = {
            "consistency_level": schema.CONSISTENCY_NAMES.get(request.consistency_level, "Bounded")}
        props = schema.kv_dict(request.properties)
        if props:
            kwargs["properties"] = props
        if request.num_partitions:
            kwargs["num_partitions"] = int(request.num_partitions)
        client = self.client
        client.create_collection(request.collection_name, schema=schema.schema_from_proto(proto),
                                 **kwargs)
        return OK

    @rpc
    def DropCollection(self, request, context):
        self.client.drop_collection(request.collection_name)
        return OK

    @rpc
    def HasCollection(self, request, context):
        value = self.client.has_collection(request.collection_name)
        return milvus_pb2.BoolResponse(status=OK, value=value)

    @rpc
    def DescribeCollection(self, request, context):
        client = self.client
        d = client.describe_collection(request.collection_name)
        return schema.describe_response(d, request.db_name or DEFAULT_DB)

    @rpc
    def ShowCollections(self, request, context):
        client = self.client
        names = client.list_collections()
        if request.collection_names:
            wanted = set(request.collection_names)
            names = [n for n in names if n in wanted]
        loaded = [int(client.get_load_state(n)["state"]) == 3 for n in names]
        return milvus_pb2.ShowCollectionsResponse(
            status=OK, collection_names=names, inMemory_percentages=[100 if x else 0 for x in loaded],
            query_service_available=loaded, shards_num=[1] * len(names))

    @rpc
    def RenameCollection(self, request, context):
        self.client.rename_collection(request.oldName, request.newName,
                                                         request.newDBName or "")
        return OK

    @rpc
    def TruncateCollection(self, request, context):
        self.client.truncate_collection(request.collection_name)
        return milvus_pb2.TruncateCollectionResponse(status=OK)

    @rpc
    def AlterCollection(self, request, context):
        if request.delete_keys:
            self.client.drop_collection_properties(request.collection_name, list(request.delete_keys))
        if request.properties:
            self.client.alter_collection_properties(request.collection_name,
                                                    schema.kv_dict(request.properties))
        return OK

    @rpc
    def AddCollectionField(self, request, context):
        proto = schema_pb2.FieldSchema()
        proto.ParseFromString(request.schema)
        self._add_field(request.collection_name, proto)
        return OK

    @rpc
    def AlterCollectionSchema(self, request, context):
        """pymilvus 3's add_collection_field: add fields (functions and drops: unsupported)."""
        action = request.action
        add = action.add_request if action.WhichOneof("op") == "add_request" else None
        if add is None or len(add.func_schema):
            what = "adding functions" if add is not None else "dropping fields or functions"
            return milvus_pb2.AlterCollectionSchemaResponse(
                alter_status=not_supported("AlterCollectionSchema", what))
        for info in add.field_infos:
            self._add_field(request.collection_name, info.field_schema)
        return milvus_pb2.AlterCollectionSchemaResponse(alter_status=OK)

    def _add_field(self, collection: str, proto: Any) -> None:
        kwargs = schema.field_kwargs(proto)
        kwargs.update(kwargs.pop("params"))
        kwargs = {k: v for k, v in kwargs.items() if v not in (None, False)}
        self.client.add_collection_field(collection, proto.name, DataType(proto.data_type),
                                         proto.description, **kwargs)

    @rpc
    def AlterCollectionField(self, request, context):
        props = {kv.key: schema.loads_or_text(kv.value) for kv in request.properties}
        kwargs = {"delete_keys": list(request.delete_keys)} if request.delete_keys else {}
        self.client.alter_collection_field(request.collection_name, request.field_name, props,
                                           **kwargs)
        return OK

    @rpc
    def GetCollectionStatistics(self, request, context):
        stats = self.client.get_collection_stats(request.collection_name)
        return milvus_pb2.GetCollectionStatisticsResponse(
            status=OK, stats=[common_pb2.KeyValuePair(key=k, value=str(v)) for k, v in stats.items()])

    @rpc
    def LoadCollection(self, request, context):
        client = self.client
        if request.refresh:
            client.refresh_load(request.collection_name)
        else:
            client.load_collection(request.collection_name)
        return OK

    @rpc
    def ReleaseCollection(self, request, context):
        self.client.release_collection(request.collection_name)
        return OK

    @rpc
    def GetLoadState(self, request, context):
        client = self.client
        parts = list(request.partition_names)
        state = LoadStateNotExist = 0
        if parts:
            for p in parts:
                state = int(client.get_load_state(request.collection_name, p)["state"])
                if state == LoadStateNotExist:
                    break
        else:
            state = int(client.get_load_state(request.collection_name)["state"])
        return milvus_pb2.GetLoadStateResponse(status=OK, state=state)

    @rpc
    def GetLoadingProgress(self, request, context):
        client = self.client
        client._loaded_collection(request.collection_name)  # an error status when not loaded
        return milvus_pb2.GetLoadingProgressResponse(status=OK, progress=100, refresh_progress=100)

    @rpc
    def Flush(self, request, context):
        client = self.client
        resp = milvus_pb2.FlushResponse(status=OK, db_name=request.db_name or DEFAULT_DB)
        now = int(time.time())
        for name in request.collection_names:
            client.flush(name)
            resp.coll_seal_times[name] = now
            resp.coll_flush_ts[name] = now << 18
        return resp

    @rpc
    def GetFlushState(self, request, context):
        return milvus_pb2.GetFlushStateResponse(status=OK, flushed=True)

    @rpc
    def GetFlushAllState(self, request, context):
        return milvus_pb2.GetFlushAllStateResponse(status=OK, flushed=True)

    @rpc
    def ManualCompaction(self, request, context):
        client = self.client
        name = request.collection_name
        if not name:
            raise ParamError("compaction needs a collection name")
        job = client.compact(name, is_clustering=request.majorCompaction)
        return milvus_pb2.ManualCompactionResponse(status=OK, compactionID=int(job),
                                                   compactionPlanCount=1)

    @rpc
    def GetCompactionState(self, request, context):
        state = self.client.get_compaction_state(int(request.compactionID))
        code = common_pb2.Completed if state == "Completed" else common_pb2.UndefiedState
        return milvus_pb2.GetCompactionStateResponse(status=OK, state=code,
                                                     completedPlanNo=1 if state == "Completed" else 0)

    # partitions ----------------------------------------------------------------------------
    @rpc
    def CreatePartition(self, request, context):
        self.client.create_partition(request.collection_name, request.partition_name)
        return OK

    @rpc
    def DropPartition(self, request, context):
        self.client.drop_partition(request.collection_name, request.partition_name)
        return OK

    @rpc
    def HasPartition(self, request, context):
        value = self.client.has_partition(request.collection_name,
                                                             request.partition_name)
        return milvus_pb2.BoolResponse(status=OK, value=value)

    @rpc
    def ShowPartitions(self, request, context):
        client = self.client
        names = client.list_partitions(request.collection_name)
        if request.partition_names:
            wanted = set(request.partition_names)
            names = [n for n in names if n in wanted]
        loaded = int(client.get_load_state(request.collection_name)["state"]) == 3
        return milvus_pb2.ShowPartitionsResponse(
            status=OK, partition_names=names, partitionIDs=list(range(1, len(names) + 1)),
            inMemory_percentages=[100 if loaded else 0] * len(names))

    @rpc
    def LoadPartitions(self, request, context):
        self.client.load_partitions(request.collection_name,
                                                       list(request.partition_names))
        return OK

    @rpc
    def ReleasePartitions(self, request, context):
        self.client.release_partitions(request.collection_name,
                                                          list(request.partition_names))
        return OK

    @rpc
    def GetPartitionStatistics(self, request, context):
        stats = self.client.get_partition_stats(request.collection_name,
                                                                   request.partition_name)
        return milvus_pb2.GetPartitionStatisticsResponse(
            status=OK, stats=[common_pb2.KeyValuePair(key=k, value=str(v)) for k, v in stats.items()])

    # aliases -------------------------------------------------------------------------------
    @rpc
    def CreateAlias(self, request, context):
        self.client.create_alias(request.collection_name, request.alias)
        return OK

    @rpc
    def DropAlias(self, request, context):
        self.client.drop_alias(request.alias)
        return OK

    @rpc
    def AlterAlias(self, request, context):
        self.client.alter_alias(request.collection_name, request.alias)
        return OK

    @rpc
    def DescribeAlias(self, request, context):
        d = self.client.describe_alias(request.alias)
        return milvus_pb2.DescribeAliasResponse(status=OK, db_name=request.db_name or DEFAULT_DB,
                                                alias=d["alias"], collection=d["collection_name"])

    @rpc
    def ListAliases(self, request, context):
        d = self.client.list_aliases(request.collection_name or "")
        return milvus_pb2.ListAliasesResponse(status=OK, db_name=request.db_name or DEFAULT_DB,
                                              collection_name=d.get("collection_name", ""),
                                              aliases=list(d["aliases"]))

    # indexes -------------------------------------------------------------------------------
    @rpc
    def CreateIndex(self, request, context):
        client = self.client
        param = schema.index_param(request.field_name, request.index_name, request.extra_params)
        client.create_index(request.collection_name, [param])
        return OK

    def _index_descriptions(self, request, context) -> list:
        client = self.client
        names = client.list_indexes(request.collection_name, request.field_name or "")
        if request.index_name:
            if request.index_name not in names:
                raise IndexNotFoundError(f"index not found[indexName={request.index_name}]")
            names = [request.index_name]
        if not names:
            raise IndexNotFoundError(f"index not found[collection={request.collection_name}]")
        return [schema.index_description(client.describe_index(request.collection_name, n))
                for n in names]

    @rpc
    def DescribeIndex(self, request, context):
        return milvus_pb2.DescribeIndexResponse(status=OK,
                                                index_descriptions=self._index_descriptions(request, context))

    @rpc
    def GetIndexStatistics(self, request, context):
        return milvus_pb2.GetIndexStatisticsResponse(status=OK,
                                                     index_descriptions=self._index_descriptions(request, context))

    @rpc
    def GetIndexState(self, request, context):
        self._index_descriptions(request, context)
        return milvus_pb2.GetIndexStateResponse(status=OK, state=common_pb2.Finished)

    @rpc
    def GetIndexBuildProgress(self, request, context):
        d = self._index_descriptions(request, context)[0]
        return milvus_pb2.GetIndexBuildProgressResponse(status=OK, indexed_rows=d.indexed_rows,
                                                        total_rows=d.total_rows)

    @rpc
    def AlterIndex(self, request, context):
        if request.delete_keys:
            self.client.drop_index_properties(request.collection_name, request.index_name,
                                              list(request.delete_keys))
        if request.extra_params:
            props = {kv.key: schema.loads_or_text(kv.value) for kv in request.extra_params}
            self.client.alter_index_properties(request.collection_name, request.index_name, props)
        return OK

    @rpc
    def DropIndex(self, request, context):
        client = self.client
        name = request.index_name
        if not name:
            names = client.list_indexes(request.collection_name, request.field_name or "")
            if len(names) != 1:
                raise ParamError(f"drop_index needs an index name: field {request.field_name!r} "
                                 f"has indexes {names}")
            name = names[0]
        client.drop_index(request.collection_name, name)
        return OK

    # writes --------------------------------------------------------------------------------
    @rpc
    def Insert(self, request, context):
        client = self.client
        rows = records.rows_from_fields(request.fields_data, request.num_rows)
        res = client.insert(request.collection_name, rows, partition_name=request.partition_name)
        pk = self._schema(client, request.collection_name).primary_field
        return results.mutation_result(res["ids"], pk.dtype, insert_cnt=int(res["insert_count"]))

    @rpc
    def Upsert(self, request, context):
        client = self.client
        rows = records.rows_from_fields(request.fields_data, request.num_rows)
        kwargs: dict[str, Any] = {"partial_update": True} if request.partial_update else {}
        if request.field_ops:  # per-field partial-update operators, by their FieldOpType number
            kwargs["field_ops"] = {op.field_name: int(op.op) for op in request.field_ops}
        res = client.upsert(request.collection_name, rows, partition_name=request.partition_name,
                            **kwargs)
        pk = self._schema(client, request.collection_name).primary_field
        return results.mutation_result(res["ids"], pk.dtype, upsert_cnt=int(res["upsert_count"]))

    @rpc
    def Delete(self, request, context):
        client = self.client
        params = search.filter_params(request.expr_template_values)
        kwargs = {"filter_params": params} if params else {}
        res = client.delete(request.collection_name, filter=request.expr,
                            partition_name=request.partition_name or None, **kwargs)
        return milvus_pb2.MutationResult(status=OK, delete_cnt=int(res["delete_count"]),
                                         IDs=schema_pb2.IDs())

    # reads ---------------------------------------------------------------------------------
    @rpc
    def Query(self, request, context):
        client = self.client
        name = request.collection_name
        sch = self._schema(client, name)
        params = schema.kv_dict(request.query_params)
        output_fields = list(request.output_fields) or None
        kwargs: dict[str, Any] = {"output_fields": output_fields,
                                  "partition_names": list(request.partition_names) or None}
        for key in ("limit", "offset"):
            if params.get(key):
                kwargs[key] = int(params[key])
        for key in ("order_by_fields", "timezone"):
            if params.get(key):
                kwargs[key] = params[key]
        if params.get("group_by_fields"):
            kwargs["group_by_fields"] = [f for f in params["group_by_fields"].split(",") if f]
        fp = search.filter_params(request.expr_template_values)
        keys = None if "iterator" in params or fp else _pk_list(request.expr, sch.primary_field.name)
        if keys is not None:
            rows = client.query(name, ids=keys, **kwargs)
        else:
            if fp:
                kwargs["filter_params"] = fp
            rows = client.query(name, filter=request.expr, **kwargs)
        fields, sent = results.query_fields(list(rows), sch, output_fields)
        return milvus_pb2.QueryResults(status=OK, fields_data=fields, collection_name=name,
                                       output_fields=sent, primary_field_name=sch.primary_field.name,
                                       session_ts=_session_ts())

    @rpc
    def Search(self, request, context):
        client = self.client
        name = request.collection_name
        call = search.search_call(request)
        if call.iterator_v2:
            return self._search_iterator_page(client, name, call)
        res = client.search(name, **call.kwargs)
        sch = self._schema(client, name)
        data = results.search_result_data(res, sch, call.kwargs["limit"], call.kwargs["output_fields"])
        if call.kwargs.get("group_by_field"):
            data.group_by_field_value.CopyFrom(results.group_values(res, sch, call.kwargs["group_by_field"]))
        return milvus_pb2.SearchResults(status=OK_WITH_COST, results=data, collection_name=name,
                                        session_ts=_session_ts())

    @rpc
    def HybridSearch(self, request, context):
        client = self.client
        name = request.collection_name
        kwargs = search.hybrid_call(request)
        res = client.hybrid_search(name, **kwargs)
        sch = self._schema(client, name)
        data = results.search_result_data(res, sch, kwargs["limit"], kwargs["output_fields"])
        return milvus_pb2.SearchResults(status=OK_WITH_COST, results=data, collection_name=name,
                                        session_ts=_session_ts())

    def _search_iterator_page(self, client: Any, name: str, call: search.SearchCall) -> Any:
        """Search iterator v2: one page of the session named by the token pymilvus sends."""
        kw = call.kwargs
        it_kwargs = {k: kw[k] for k in ("filter", "output_fields", "search_params",
                                        "partition_names", "anns_field", "round_decimal",
                                        "filter_params") if k in kw}
        hits, token = self._iterators.next_page(client, name, call.iterator_token, kw["data"],
                                                call.iterator_batch, it_kwargs)
        sch = self._schema(client, name)
        data = results.search_result_data([hits], sch, call.iterator_batch, kw["output_fields"])
        last = float(hits[-1]["distance"]) if len(hits) else 0.0
        data.search_iterator_v2_results.token = token
        data.search_iterator_v2_results.last_bound = last
        return milvus_pb2.SearchResults(status=OK, results=data, collection_name=name,
                                        session_ts=_session_ts())

    # analyzers -----------------------------------------------------------------------------
    @rpc
    def RunAnalyzer(self, request, context):
        client = self.client
        try:
            texts = [t.decode("utf-8") for t in request.placeholder]
        except UnicodeDecodeError:
            raise ParamError("run_analyzer: texts must be UTF-8") from None
        kwargs: dict[str, Any] = {"with_hash": request.with_hash, "with_detail": request.with_detail}
        if request.analyzer_params:
            kwargs["analyzer_params"] = schema.loads_or_text(request.analyzer_params)
        if request.collection_name:
            kwargs["collection_name"] = request.collection_name
        if request.field_name:
            kwargs["field_name"] = request.field_name
        names = list(request.analyzer_names)
        if names:
            kwargs["analyzer_names"] = names[0] if len(names) == 1 else names
        out = client.run_analyzer(texts, **kwargs)
        resp = milvus_pb2.RunAnalyzerResponse(status=OK)
        for res in out:
            r = resp.results.add()
            for tok in res.tokens:
                if isinstance(tok, str):
                    r.tokens.add(token=tok)
                else:
                    d = tok.dict
                    r.tokens.add(**{k: v for k, v in d.items()
                                    if k in ("token", "start_offset", "end_offset", "position",
                                             "position_length", "hash")})
        return resp


def _session_ts() -> int:
    """A Milvus hybrid timestamp for now (iterators pin it; embedb's reads are always current)."""
    return int(time.time() * 1000) << 18


# exactly what pymilvus writes for get() and query(ids=...): `id in [1,2]`, `id in ['a','b']`
_PK_IN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*) in (\[(?:-?\d+(?:,-?\d+)*|'[^']*'(?:,'[^']*')*)\])$")


def _pk_list(expr: str, pk_name: str) -> list | None:
    """The keys of a get()/query(ids=...) filter, so rows come back in the order asked for, as
    in-process; None for any other filter (a filter the user wrote keeps primary-key order)."""
    m = _PK_IN.match(expr or "")
    if not m or m.group(1) != pk_name:
        return None
    try:
        keys = ast.literal_eval(m.group(2))
    except (ValueError, SyntaxError):
        return None
    if not isinstance(keys, list) or not all(isinstance(k, (int, str)) and not isinstance(k, bool)
                                             for k in keys):
        return None
    return keys


def _unsupported_handler(method: str) -> Callable:
    def handler(self: MilvusServicer, request: Any, context: Any) -> Any:
        st = not_supported(method)
        log.warning("%s failed: code=%d %s", method, st.code, st.reason)
        try:
            return _respond(method, st)
        except _CallFailed:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, st.reason)

    handler.__name__ = method
    return handler


# every RPC without a handler above answers "unsupported operation" with its own response type
for _m in _SERVICE.methods:
    if _m.name not in MilvusServicer.__dict__:
        setattr(MilvusServicer, _m.name, _unsupported_handler(_m.name))
