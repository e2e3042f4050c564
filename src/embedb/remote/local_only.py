"""Features that exist only inside embedb, found before a request goes to a Milvus server.

A Milvus server would reject them with a message about its own internals (or, worse, accept a
name it understands differently), so the remote client refuses them up front with an error that
says what is local-only and what the server-side equivalent is.
"""

from __future__ import annotations

from typing import Any

from ..errors import ParamError
from ..schema import CollectionSchema, FieldSchema, FunctionType

# Milvus's built-in analyzer types; embedb also has one per language ({"type": "german"}).
SERVER_BUILTIN_ANALYZERS = frozenset({"standard", "english", "chinese"})
# TEXTEMBEDDING providers that run in-process in embedb (the server calls hosted ones only).
LOCAL_PROVIDERS = frozenset({"local", "embedb", "sentence-transformers", "onnx", "model2vec"})


def server_analyzer(params: Any) -> Any:
    """``params`` unchanged when a Milvus server knows the analyzer; embedb's per-language
    built-in types become the equivalent custom analyzer (tokenizer + filters) the server runs."""
    if not isinstance(params, dict) or "type" not in params:
        return params
    kind = params.get("type")
    if not isinstance(kind, str) or kind.lower() in SERVER_BUILTIN_ANALYZERS:
        return params
    from ..text import build_analyzer

    analyzer = build_analyzer(params)
    return {"tokenizer": analyzer.tokenizer.to_params(),
            "filter": [f.to_params() for f in analyzer.filters]}


def check_field(field: FieldSchema, collection: str = "") -> None:
    where = f"field {field.name!r}" + (f" of collection {collection!r}" if collection else "")
    params = field.params or {}
    analyzers = [params.get("analyzer_params")]
    multi = params.get("multi_analyzer_params")
    if isinstance(multi, dict):
        analyzers += list((multi.get("analyzers") or {}).values())
    for a in analyzers:
        mapped = server_analyzer(a)
        if mapped is not a:
            raise ParamError(
                f"{where}: analyzer {a!r} is an embedb-only built-in (a Milvus server knows "
                f"'standard', 'english' and 'chinese'); this is a local-only feature. Use the "
                f"equivalent custom analyzer instead: {mapped!r}")


def check_schema(schema: CollectionSchema, collection: str = "") -> None:
    """Raise ParamError naming the first local-only feature of ``schema``."""
    for field in schema.fields:
        check_field(field, collection)
    for fn in schema.functions:
        if fn.type == FunctionType.TEXTEMBEDDING:
            provider = str((fn.params or {}).get("provider", "local")).lower()
            if provider in LOCAL_PROVIDERS:
                raise ParamError(
                    f"function {fn.name!r}" + (f" of collection {collection!r}" if collection else "")
                    + f": a TEXTEMBEDDING function with provider {provider!r} runs a model inside "
                    "embedb, which a Milvus server cannot run; this is a local-only feature. On a "
                    "server, use a hosted provider (openai, cohere, voyageai, tei...) or embed "
                    "with embedb.model before inserting")
