"""Client results -> response messages: search results (``SearchResultData``), query rows
(``QueryResults`` columns) and mutation results."""

from __future__ import annotations

from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

from ...schema import CollectionSchema, DataType
from .records import fields_from_rows


def ids_proto(pks: list, pk_type: DataType) -> schema_pb2.IDs:
    if pk_type == DataType.VARCHAR:
        return schema_pb2.IDs(str_id=schema_pb2.StringArray(data=[str(p) for p in pks]))
    return schema_pb2.IDs(int_id=schema_pb2.LongArray(data=[int(p) for p in pks]))


def mutation_result(ids: list, pk_type: DataType, **counts: int) -> milvus_pb2.MutationResult:
    return milvus_pb2.MutationResult(status=common_pb2.Status(), IDs=ids_proto(list(ids), pk_type),
                                     succ_index=list(range(len(ids))), **counts)


def search_result_data(result: list, schema: CollectionSchema, limit: int,
                       output_fields: list[str] | None) -> schema_pb2.SearchResultData:
    """A SearchResult (one Hits list per query) -> SearchResultData: the hits of all queries
    concatenated, ``topks`` saying how many belong to each query."""
    pk = schema.primary_field
    pk_name = pk.name
    topks = [len(hits) for hits in result]
    flat = [h for hits in result for h in hits]
    get = dict.__getitem__  # a Hit is a dict: skip its entity-fallback __getitem__
    pks = [get(h, pk_name) for h in flat]
    scores = [get(h, "distance") for h in flat]
    entities = [get(h, "entity") for h in flat]
    data = schema_pb2.SearchResultData(
        num_queries=len(result), top_k=int(limit), topks=topks,
        ids=ids_proto(pks, pk.dtype), primary_field_name=pk_name)
    # protobuf narrows each double to float32 exactly as numpy's astype would
    data.scores.extend(scores)
    if output_fields or any(entities):  # absent output fields: no column work at all
        names = [pk_name] + [n for n in (output_fields or []) if n not in ("*", pk_name)]
        fields, sent = fields_from_rows(entities, schema, names if not flat else None)
        data.output_fields.extend(sent)
        data.fields_data.extend(fields)
    return data


def query_fields(rows: list[dict], schema: CollectionSchema,
                 output_fields: list[str] | None) -> tuple[list[schema_pb2.FieldData], list[str]]:
    """Query rows -> (columns, output field names), with a column for every requested schema
    field even when no row matched (pymilvus needs at least one)."""
    if rows and list(rows[0]) == ["count(*)"]:  # an aggregate alone: one INT64 column
        from .records import field_data

        return [field_data("count(*)", DataType.INT64, [int(r["count(*)"]) for r in rows])], \
            ["count(*)"]
    names = [schema.primary_field.name]
    for n in output_fields or []:
        if n == "*":
            names.extend(f.name for f in schema.fields if f.name not in names)
        elif n not in names and schema.field(n) is not None:
            names.append(n)
    return fields_from_rows(rows, schema, names)



def group_values(result: list, schema: CollectionSchema, field: str) -> schema_pb2.FieldData:
    """The group-by value of every hit (``group_by_field_value``), which pymilvus puts in each
    hit's entity even when the field is not an output field."""
    from .records import field_data

    f = schema.field(field)
    values = [dict.__getitem__(h, "entity").get(field) for hits in result for h in hits]
    if f is None:
        raise ValueError(f"group_by_field {field!r} is not a field of the collection")
    return field_data(field, f.dtype, values, element_type=f.element_type, nullable=f.nullable)
