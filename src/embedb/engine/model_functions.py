"""The engine's side of schema functions that run a model (``FunctionType.TEXTEMBEDDING``).

The engine never imports ``embedb.model``: ``embedb.functions`` installs a *runner* here (the
client does it when it opens a local database) and the engine calls it through these methods:

- ``identity(fn) -> dict``: what the function's model is (provider, model id, dim, and a hash
  of the weights for a local model); checked against the identity stored at create time;
- ``dim(fn) -> int``: the size of the vectors the model makes;
- ``embed_documents(fn, texts) -> (n, dim) array`` and ``embed_queries(fn, texts)``;
- ``rerank_scores(params, query, texts) -> (n,) array``: a model ranker's relevance scores.

The identity of each function's model is persisted in the collection's ``meta``
(``function_models``); a process that finds a different model behind the same function name
gets a clear error instead of mixing two vector spaces in one field.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import numpy as np

from ..errors import DataError, ParamError
from ..schema import DataType, FunctionType

META_KEY = "function_models"


class Runner(Protocol):
    def identity(self, fn: Any) -> dict: ...

    def dim(self, fn: Any) -> int: ...

    def embed_documents(self, fn: Any, texts: list[str]) -> np.ndarray: ...

    def embed_queries(self, fn: Any, texts: list[str]) -> np.ndarray: ...

    def rerank_scores(self, params: dict, query: str, texts: list[str]) -> np.ndarray: ...


_runner: Runner | None = None
_check_lock = threading.Lock()
CHECKED = "function_models_checked"   # collection.extensions key: functions checked this open


def install(runner: Runner) -> None:
    """Set the runner of TEXTEMBEDDING functions (``embedb.functions`` calls this)."""
    global _runner
    _runner = runner


def _get_runner() -> Runner:
    if _runner is None:
        raise ParamError("TEXTEMBEDDING functions run through embedb.functions, which "
                         "embedb.MilvusClient installs: open the database with MilvusClient")
    return _runner


def embedding_functions(schema: Any) -> list[Any]:
    return [fn for fn in schema.functions if int(fn.type) == int(FunctionType.TEXTEMBEDDING)]


def function_of_output(schema: Any, field_name: str) -> Any | None:
    """The TEXTEMBEDDING function whose output is ``field_name``, or None."""
    for fn in embedding_functions(schema):
        if field_name in fn.output_field_names:
            return fn
    return None


def prepare(schema: Any) -> dict[str, dict]:
    """At create time: load each function's model, check its dimension against the output
    field, and return the identities to persist."""
    out: dict[str, dict] = {}
    for fn in embedding_functions(schema):
        runner = _get_runner()
        dst = schema.field(fn.output_field_names[0])
        dim = runner.dim(fn)
        want = int(dst.params.get("dim", 0) or 0)
        if dim != want:
            raise ParamError(f"function {fn.name!r}: the model makes {dim}-d vectors but output "
                             f"field {dst.name!r} has dim {want}")
        if dst.dtype == DataType.INT8_VECTOR:   # only a provider with int8 output fits: ask once
            _as_output(np.asarray(runner.embed_documents(fn, ["int8 output check"])), dst, fn)
        out[fn.name] = runner.identity(fn)
    return out


def _check_identity(collection: Any, fn: Any) -> Runner:
    """Once per process and collection: the model behind ``fn`` must be the one it was made
    with (its identity persisted at create time)."""
    runner = _get_runner()
    collection = getattr(collection, "owner", collection)   # a read view's collection
    # kept on the Collection object: a database opened again gets new objects, so is checked again
    if fn.name in collection.extensions.get(CHECKED, ()):
        return runner
    with _check_lock:
        stored = (collection.meta.get(META_KEY) or {}).get(fn.name)
        current = runner.identity(fn)
        if stored is None:   # a collection made before identities were kept: adopt this model
            collection.meta.setdefault(META_KEY, {})[fn.name] = current
            try:
                collection.save_meta()
            except Exception:   # a read-only open cannot record it; the check still ran
                pass
        elif stored != current:
            raise ParamError(
                f"collection {collection.name!r}, function {fn.name!r}: its vectors were made by "
                f"{_describe(stored)} but this process resolves the function to "
                f"{_describe(current)}; refusing to mix two vector spaces in field "
                f"{fn.output_field_names[0]!r}. Use the original model, or create a new "
                "collection for the new one")
        collection.extensions.setdefault(CHECKED, set()).add(fn.name)
    return runner


def _describe(identity: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(identity.items()))


def fill_embeddings(collection: Any, rows: list) -> None:
    """Fill each TEXTEMBEDDING function's output field of ``rows`` (dicts, in place) from its
    VARCHAR input. Writing an output field yourself is a DataError (as for BM25)."""
    schema = collection.schema
    for fn in embedding_functions(schema):
        src, dst = fn.input_field_names[0], fn.output_field_names[0]
        for i, row in enumerate(rows):
            if isinstance(row, dict) and dst in row:
                raise DataError(
                    f"row {i}, field {dst!r}: this field is the output of TEXTEMBEDDING function "
                    f"{fn.name!r} and is computed from {src!r}; do not write it")
        texts, where = [], []
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                continue   # validation names the row
            value = row.get(src)
            if value is None:
                raise DataError(f"row {i}, field {src!r}: the input of TEXTEMBEDDING function "
                                f"{fn.name!r} cannot be null or missing")
            if not isinstance(value, str):
                raise DataError(f"row {i}, field {src!r}: expected a string (the input of "
                                f"TEXTEMBEDDING function {fn.name!r}), got {type(value).__name__}")
            texts.append(value)
            where.append(i)
        if not texts:
            continue
        runner = _check_identity(collection, fn)
        vectors = np.asarray(runner.embed_documents(fn, texts))
        vectors = _as_output(vectors, schema.field(dst), fn)
        for i, vec in zip(where, vectors):
            rows[i][dst] = vec


def embed_query_texts(collection: Any, field: Any, data: Any) -> Any:
    """Search data for ``field``: texts are embedded with the query convention of the field's
    TEXTEMBEDDING function; anything else is returned unchanged."""
    fn = function_of_output(collection.schema, field.name)
    if fn is None:
        return data
    texts = [data] if isinstance(data, str) else data
    if not isinstance(texts, (list, tuple)) or not texts or \
            not all(isinstance(t, str) for t in texts):
        return data
    runner = _check_identity(collection, fn)
    return _as_output(np.asarray(runner.embed_queries(fn, list(texts))), field, fn)


def _as_output(vectors: np.ndarray, field: Any, fn: Any) -> np.ndarray:
    want = int(field.params.get("dim", 0) or 0)
    if vectors.ndim != 2 or vectors.shape[1] != want:
        raise ParamError(f"function {fn.name!r}: the model returned vectors of shape "
                         f"{vectors.shape}, field {field.name!r} needs dim {want}")
    if field.dtype == DataType.INT8_VECTOR:
        if vectors.dtype != np.int8:
            raise ParamError(f"function {fn.name!r}: output field {field.name!r} is INT8_VECTOR "
                             "but the model returned floats (use a provider with int8 output)")
        return vectors
    return vectors.astype(np.float32, copy=False)


def rerank_scores(step: dict, query: str, texts: list[str]) -> np.ndarray:
    """The relevance of each text to ``query`` by a model ranker (``step``: its params)."""
    scores = np.asarray(_get_runner().rerank_scores(step["params"], query, list(texts)),
                        dtype=np.float64)
    if scores.shape != (len(texts),):
        raise ParamError(f"ranker {step.get('name')!r}: the model returned {scores.shape} scores "
                         f"for {len(texts)} texts")
    return scores
