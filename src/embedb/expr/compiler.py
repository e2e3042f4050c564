"""AST -> a tree of closures that evaluate a filter on whole columns.

``compile_filter(text, schema)`` parses, resolves names against the schema, then runs the
evaluator once on an empty source ("dry run") so that type errors (a string compared with an
INT64 field, LIKE on a number...) are reported at compile time with their position. Templates are
unknown during the dry run; their checks happen at evaluation. Compiled filters are cached by
(text, schema fingerprint) and are immutable, so one object may serve many threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import FilterError
from ..schema import FLOAT_TYPES, INTEGER_TYPES, DataType
from . import ast, functions, ops, strings, typed
from .ops import OpError
from .parser import error_at, parse_filter
from .source import Column
from .values import (
    ARRAY, BOOL, CONST, JSON, MISSING, NUM, STR, STRING_DTYPE, UNBOUND, Val, and3, const, or3,
    present_mask, true_mask,
)

Evaluator = Callable[["_Env"], Val]

_ELEMENT_CLASS = {DataType.BOOL: "bool", DataType.VARCHAR: "str", DataType.STRING: "str"}
_ELEMENT_CLASS.update({t: "num" for t in INTEGER_TYPES | FLOAT_TYPES})


class _Env:
    """Per-evaluation state: the source, the bound params and caches of loaded columns/paths."""

    __slots__ = ("source", "params", "n", "dry", "cache")

    def __init__(self, source: Any, params: Mapping[str, Any], dry: bool) -> None:
        self.source = source
        self.params = params
        self.n = int(source.num_rows)
        self.dry = dry
        self.cache: dict = {}


class CompiledFilter:
    """A filter compiled against one schema. ``evaluate`` returns the mask of TRUE rows."""

    def __init__(self, text: str, root: Evaluator, fields: frozenset[str],
                 template_names: frozenset[str]) -> None:
        self.text = text
        self._root = root
        self.fields = fields
        self.template_names = template_names

    def evaluate(self, source: Any, params: Mapping[str, Any] | None = None) -> np.ndarray:
        """Evaluate on ``source`` (a ColumnSource); ``params`` binds the ``{templates}``."""
        params = dict(params or {})
        missing = sorted(self.template_names - set(params))
        if missing:
            raise FilterError(
                f"filter {self.text!r} needs filter_params for {', '.join(map(repr, missing))}")
        env = _Env(source, params, dry=False)
        try:
            return _final_mask(self.text, self._root(env), env.n)
        except RecursionError:  # only when called from an already deep stack
            raise _too_deep(self.text) from None

    def __repr__(self) -> str:
        return f"CompiledFilter({self.text!r})"


def _final_mask(text: str, val: Val, n: int) -> np.ndarray:
    if val.kind == UNBOUND:
        return np.zeros(n, dtype=bool)
    try:
        v, k = ops.as_bool(val)
    except OpError as e:
        raise FilterError(f"predicate is not a boolean expression: {text}: filter {text!r} is not "
                          f"a condition: {e}") from None
    return true_mask(v, k, n)


def _too_deep(text: str) -> FilterError:
    return FilterError(f"filter {text[:80]!r} is nested too deeply to evaluate here "
                       "(the Python stack is exhausted); simplify the filter")


# ---- the cache ----------------------------------------------------------------------------

_CACHE: "OrderedDict[tuple, CompiledFilter]" = OrderedDict()
_CACHE_SIZE = 512
_CACHE_LOCK = threading.Lock()


def schema_fingerprint(schema: Any) -> tuple:
    return (
        bool(getattr(schema, "enable_dynamic_field", False)),
        tuple(
            (f.name, int(f.dtype), int(f.element_type or 0), bool(f.nullable))
            for f in schema.fields
        ),
    )


def compile_filter(text: str, schema: Any) -> CompiledFilter:
    """Compile filter ``text`` for ``schema`` (a CollectionSchema); FilterError on bad input."""
    if not isinstance(text, str):
        raise FilterError(f"filter must be a string, got {type(text).__name__}")
    key = (text, schema_fingerprint(schema))
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    try:
        compiled = _Compiler(text, schema).build()
    except RecursionError:  # parse_filter bounds the depth; this is the caller's deep stack
        raise _too_deep(text) from None
    except FilterError as e:
        # the server's framing first (code matching on it finds it), then our own detail
        raise FilterError(f"failed to create query plan: cannot parse expression: {text}, "
                          f"error: {e.message}", code=e.code) from None
    with _CACHE_LOCK:
        _CACHE[key] = compiled
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return compiled


# ---- the compiler -------------------------------------------------------------------------

class _Compiler:
    def __init__(self, text: str, schema: Any) -> None:
        self.text = text
        self.schema = schema
        self.fields: set[str] = set()
        self.templates: set[str] = set()

    def build(self) -> CompiledFilter:
        tree = parse_filter(self.text)
        root = self.compile(tree)
        compiled = CompiledFilter(self.text, root, frozenset(self.fields),
                                  frozenset(self.templates))
        # Dry run on zero rows: reports type errors now, with their position.
        env = _Env(_EmptySource(self.schema), {}, dry=True)
        _final_mask(self.text, root(env), 0)
        return compiled

    def error(self, node: ast.Node, message: str) -> FilterError:
        return error_at(self.text, node.pos, message)

    def compile(self, node: ast.Node) -> Evaluator:
        fn = getattr(self, "_" + type(node).__name__)(node)
        text, pos = self.text, node.pos

        def run(env: _Env) -> Val:
            try:
                return fn(env)
            except OpError as e:
                raise error_at(text, pos, str(e)) from None

        return run

    # leaves -----------------------------------------------------------------------------
    def _Literal(self, node: ast.Literal) -> Evaluator:
        val = const(node.value)
        return lambda env: val

    def _TypedLiteral(self, node: ast.TypedLiteral) -> Evaluator:
        text = node.text
        try:  # checked now, so a bad literal fails at compile time with its position
            val = typed.interval_value(text) if node.kind == "interval" else typed.iso_value(text, "UTC")
        except OpError as e:
            raise self.error(node, str(e)) from None
        if node.kind == "interval":
            return lambda env: val
        # naive text reads in the zone of the source (the collection or the call)
        return lambda env: typed.iso_value(text, typed.source_timezone(env.source))

    def _ListLit(self, node: ast.ListLit) -> Evaluator:
        if all(isinstance(i, ast.Literal) for i in node.items):
            val = const([i.value for i in node.items])
            return lambda env: val
        items = [self.compile(i) for i in node.items]

        def run(env: _Env) -> Val:
            values = []
            for item in items:
                v = item(env)
                if v.kind == UNBOUND:
                    return v
                if v.kind != CONST:
                    raise OpError("list elements must be constants")
                values.append(v.v)
            return const(values)

        return run

    def _Template(self, node: ast.Template) -> Evaluator:
        name = node.name
        self.templates.add(name)

        def run(env: _Env) -> Val:
            if env.dry:
                return Val(UNBOUND, None)
            return const(_param_value(name, env.params[name]))

        return run

    def _Ident(self, node: ast.Ident) -> Evaluator:
        name, keys = node.name, node.keys
        if name == "$meta":
            if not self.schema.enable_dynamic_field:
                raise self.error(node, "$meta is not available: the collection has no dynamic field")
            return self._path("$meta", keys, node)
        field = self.schema.field(name)
        if field is None:
            if self.schema.enable_dynamic_field:
                return self._path("$meta", (name,) + keys, node)
            raise self.error(node, f"field {name} not exist: unknown field {name!r} in filter")
        dtype = field.dtype
        if dtype.is_vector:
            raise self.error(node, f"vector field {name!r} cannot be used in a filter")
        self.fields.add(name)
        desc = f"{dtype.name} field {name!r}"
        if dtype == DataType.JSON:
            return self._path(name, keys, node, desc=desc)
        if dtype == DataType.ARRAY:
            return self._array(field, keys, node, desc)
        if dtype == DataType.GEOMETRY:
            raise self.error(node, f"{desc} can only be used in ST_* functions, like "
                                   f"ST_INTERSECTS({name}, 'POINT (1 2)')")
        if keys:
            raise self.error(node, f"{desc} cannot be subscripted")
        return lambda env: _typed_column(env, field, desc)

    def _path(self, column: str, keys: tuple, node: ast.Node, desc: str = "") -> Evaluator:
        self.fields.add("$meta" if column == "$meta" else column)
        if keys:  # name the path in messages: JSON path info["a"][0]
            desc = "JSON path " + column + "".join(f"[{k!r}]" for k in keys)

        def run(env: _Env) -> Val:
            cache_key = ("path", column, keys)
            val = env.cache.get(cache_key)
            if val is None:
                base = _json_column(env, column)
                val = Val(JSON, _resolve(base, keys) if keys else base, desc=desc)
                env.cache[cache_key] = val
            return val

        return run

    def _array(self, field: Any, keys: tuple, node: ast.Node, desc: str) -> Evaluator:
        elem_type = field.element_type
        elem = _ELEMENT_CLASS.get(elem_type) if elem_type is not None else None
        elem_int = elem_type in INTEGER_TYPES
        if not keys:
            def whole(env: _Env) -> Val:
                col = _load(env, field.name)
                values = _nulls_to_none(col)
                return Val(ARRAY, values, None, elem=elem, is_int=elem_int, desc=desc)
            return whole
        if len(keys) != 1 or type(keys[0]) is not int:
            raise self.error(node, f"{desc} takes one integer index, like {field.name}[0]")
        index = keys[0]

        def element(env: _Env) -> Val:
            cache_key = ("elem", field.name, index)
            val = env.cache.get(cache_key)
            if val is None:
                values = _nulls_to_none(_load(env, field.name))
                val = Val(JSON, _resolve(values, (index,)), elem=elem, is_int=elem_int,
                          desc=f"element {index} of {desc}")
                env.cache[cache_key] = val
            return val

        return element

    # operators --------------------------------------------------------------------------
    def _Unary(self, node: ast.Unary) -> Evaluator:
        operand, op = self.compile(node.operand), node.op
        return lambda env: ops.unary(op, operand(env))

    def _Binary(self, node: ast.Binary) -> Evaluator:
        left, right, op = self.compile(node.left), self.compile(node.right), node.op
        return lambda env: _arith(op, left(env), right(env))

    def _Compare(self, node: ast.Compare) -> Evaluator:
        left, right, op = self.compile(node.left), self.compile(node.right), node.op
        return lambda env: _compare(env, op, left(env), right(env))

    def _Range(self, node: ast.Range) -> Evaluator:
        low, mid, high = (self.compile(n) for n in (node.low, node.middle, node.high))
        op1, op2 = node.op1, node.op2

        def run(env: _Env) -> Val:
            m = mid(env)
            return _logical("and", [_compare(env, op1, low(env), m), _compare(env, op2, m, high(env))])

        return run

    def _Logical(self, node: ast.Logical) -> Evaluator:
        items, op = [self.compile(i) for i in node.items], node.op
        return lambda env: _logical(op, [item(env) for item in items])

    def _Not(self, node: ast.Not) -> Evaluator:
        operand = self.compile(node.operand)

        def run(env: _Env) -> Val:
            val = operand(env)
            if val.kind == UNBOUND:
                return val
            v, k = ops.as_bool(val)
            return Val(BOOL, ~v, k) if not isinstance(v, np.bool_) else const(not bool(v))

        return run

    def _In(self, node: ast.In) -> Evaluator:
        if not isinstance(node.options, (ast.ListLit, ast.Template)):
            raise self.error(node.options, "IN needs a list like [1, 2] or a {template}")
        value, options, negate = self.compile(node.value), self.compile(node.options), node.negate
        return lambda env: ops.in_list(value(env), options(env), negate)

    def _Like(self, node: ast.Like) -> Evaluator:
        value, pattern = self.compile(node.value), self.compile(node.pattern)
        return lambda env: ops.like(value(env), pattern(env))

    def _Regex(self, node: ast.Regex) -> Evaluator:
        value, pattern, negate = self.compile(node.value), self.compile(node.pattern), node.negate
        return lambda env: ops.regex(value(env), pattern(env), negate)

    def _Exists(self, node: ast.Exists) -> Evaluator:
        operand = self._json_path_operand(node.operand, "EXISTS")
        bare = isinstance(node.operand, ast.Ident) and not node.operand.keys and (
            node.operand.name == "$meta" or self.schema.field(node.operand.name) is not None)

        def run(env: _Env) -> Val:
            # A key holding JSON null exists; a NULL field (bare `exists j`) does not.
            values = operand(env).v
            return Val(BOOL, np.fromiter((x is not MISSING and x is not None for x in values.tolist())
                                         if bare else (x is not MISSING for x in values.tolist()),
                                         dtype=bool, count=len(values)), None)

        return run

    def _IsNull(self, node: ast.IsNull) -> Evaluator:
        if not isinstance(node.operand, ast.Ident):
            raise self.error(node.operand, "IS NULL applies to a field or a JSON path")
        negate = node.negate
        geo = self.schema.field(node.operand.name)
        if geo is not None and geo.dtype == DataType.GEOMETRY and not node.operand.keys:
            self.fields.add(geo.name)

            def geometry_null(env: _Env) -> Val:
                valid = _load(env, geo.name).valid
                null = np.zeros(env.n, dtype=bool) if valid is None else ~np.asarray(valid, bool)
                return Val(BOOL, ~null if negate else null, None)

            return geometry_null
        operand = self.compile(node.operand)

        def run(env: _Env) -> Val:
            val = operand(env)
            if val.kind in (JSON, ARRAY):
                null = ~present_mask(val)
            else:
                null = np.zeros(env.n, dtype=bool) if val.k is None else ~val.k
            return Val(BOOL, ~null if negate else null, None)

        return run

    def _json_path_operand(self, node: ast.Node, what: str) -> Evaluator:
        if isinstance(node, ast.Ident):
            field = self.schema.field(node.name)
            dynamic = node.name == "$meta" or (field is None and self.schema.enable_dynamic_field)
            if dynamic or (field is not None and field.dtype == DataType.JSON):
                return self.compile(node)
            if field is not None and field.dtype == DataType.ARRAY and node.keys:
                return self.compile(node)
        raise self.error(node, f"{what} needs a JSON path like json_field[\"key\"]")

    # functions --------------------------------------------------------------------------
    def _geometry_field(self, node: ast.Call) -> Any:
        arg = node.args[0] if node.args else None
        field = self.schema.field(arg.name) if isinstance(arg, ast.Ident) else None
        if field is None or arg.keys or field.dtype != DataType.GEOMETRY:
            raise self.error(arg or node, f"{node.name}() needs a GEOMETRY field as its first argument")
        self.fields.add(field.name)
        return field

    def _spatial(self, node: ast.Call) -> Evaluator:
        name = node.name
        if name == "st_isvalid":
            self._arity(node, 1, 1)
        elif name == "st_dwithin":
            self._arity(node, 3, 3)
        else:
            self._arity(node, 2, 2)
        field = self._geometry_field(node)
        if name == "st_isvalid":
            def valid_rows(env: _Env) -> Val:
                col = _load(env, field.name)
                load = lambda: typed.column_geometries(env.source, field.name, col.values, col.valid)  # noqa: E731
                return typed.geometry_is_valid(load, col.valid, env.dry)
            return valid_rows
        query = self.compile(node.args[1])
        distance = self.compile(node.args[2]) if name == "st_dwithin" else None

        def run(env: _Env) -> Val:
            col = _load(env, field.name)
            load = lambda: typed.column_geometries(env.source, field.name, col.values, col.valid)  # noqa: E731
            return typed.geometry_predicate(name, load, col.valid, query(env),
                                            distance(env) if distance else None, env.dry)

        return run

    def _Call(self, node: ast.Call) -> Evaluator:
        name = node.name
        if name in functions.UNSUPPORTED:
            raise self.error(node, f"{name}() is not supported by embedb")
        handler = _CALLS.get(name)
        if handler is None:
            raise self.error(node, f"unknown function {name!r}; supported: "
                                   f"{', '.join(sorted(_CALLS))}")
        return handler(self, node)

    def _arity(self, node: ast.Call, low: int, high: int, kwargs: tuple = ()) -> None:
        if not low <= len(node.args) <= high:
            count = f"{low}" if low == high else f"{low} to {high}"
            raise self.error(node, f"{node.name}() takes {count} arguments, got {len(node.args)}")
        for key, value in node.kwargs:
            if key not in kwargs:
                raise self.error(value, f"{node.name}() got an unexpected keyword {key!r}")

    def _contains(self, node: ast.Call) -> Evaluator:
        self._arity(node, 2, 2)
        mode = "all" if node.name.endswith("_all") else "any" if node.name.endswith("_any") else "one"
        target, value = self.compile(node.args[0]), self.compile(node.args[1])
        name = node.name
        return lambda env: functions.contains(name, mode, target(env), value(env))

    def _array_length(self, node: ast.Call) -> Evaluator:
        self._arity(node, 1, 1)
        target = self.compile(node.args[0])
        return lambda env: functions.array_length(target(env))

    def _varchar_field(self, node: ast.Call) -> str:
        arg = node.args[0]
        field = self.schema.field(arg.name) if isinstance(arg, ast.Ident) else None
        if field is None or arg.keys or field.dtype not in (DataType.VARCHAR, DataType.STRING):
            raise self.error(arg, f"{node.name}() needs a VARCHAR field as its first argument")
        self.fields.add(field.name)
        return field.name

    def _text_match(self, node: ast.Call) -> Evaluator:
        self._arity(node, 2, 2, kwargs=("minimum_should_match",))
        field = self._varchar_field(node)
        query = self.compile(node.args[1])
        kw = dict(node.kwargs)
        msm = self.compile(kw["minimum_should_match"]) if "minimum_should_match" in kw else None

        def run(env: _Env) -> Val:
            q = functions.string_option(query(env), "text_match query")
            n_min = functions.int_option(msm(env), "minimum_should_match", 1) if msm else 1
            if env.dry or q is None or n_min is None:
                return Val(BOOL, np.zeros(env.n, dtype=bool), None)
            hits = np.asarray(env.source.text_match(field, q, n_min), dtype=bool)
            return Val(BOOL, hits, _load(env, field).valid)

        return run

    def _phrase_match(self, node: ast.Call) -> Evaluator:
        self._arity(node, 2, 3)
        field = self._varchar_field(node)
        phrase = self.compile(node.args[1])
        slop = self.compile(node.args[2]) if len(node.args) == 3 else None

        def run(env: _Env) -> Val:
            p = functions.string_option(phrase(env), "phrase_match phrase")
            s = functions.int_option(slop(env), "phrase_match slop", 0) if slop else 0
            if env.dry or p is None or s is None:
                return Val(BOOL, np.zeros(env.n, dtype=bool), None)
            hits = np.asarray(env.source.phrase_match(field, p, s), dtype=bool)
            return Val(BOOL, hits, _load(env, field).valid)

        return run

    def _random_sample(self, node: ast.Call) -> Evaluator:
        self._arity(node, 1, 1)
        ratio = self.compile(node.args[0])

        def run(env: _Env) -> Val:
            r = functions.ratio_option(ratio(env))
            if r is None:
                return Val(UNBOUND, None)
            return functions.random_sample(r, env.n)

        return run


_CALLS = {
    name: _Compiler._contains
    for name in ("json_contains", "json_contains_all", "json_contains_any",
                 "array_contains", "array_contains_all", "array_contains_any")
}
_CALLS.update({
    "array_length": _Compiler._array_length,
    "text_match": _Compiler._text_match,
    "phrase_match": _Compiler._phrase_match,
    "random_sample": _Compiler._random_sample,
})
_CALLS.update({name: _Compiler._spatial for name in
               ("st_equals", "st_touches", "st_overlaps", "st_crosses", "st_contains",
                "st_intersects", "st_within", "st_dwithin", "st_isvalid")})


# ---- helpers ------------------------------------------------------------------------------

def _logical(op: str, vals: list[Val]) -> Val:
    if any(v.kind == UNBOUND for v in vals):
        for v in vals:  # still type-check the bound operands
            if v.kind != UNBOUND:
                ops.as_bool(v)
        return Val(UNBOUND, None)
    combine = and3 if op == "and" else or3
    v, k = ops.as_bool(vals[0])
    for other in vals[1:]:
        ov, ok = ops.as_bool(other)
        v, k = combine(v, k, ov, ok)
    if isinstance(v, np.bool_) and k is None:
        return const(bool(v))
    return Val(BOOL, v, k)


def _compare(env: _Env, op: str, a: Val, b: Val) -> Val:
    return typed.compare(op, a, b, typed.source_timezone(env.source)) or ops.compare(op, a, b)


def _arith(op: str, a: Val, b: Val) -> Val:
    return typed.arith(op, a, b) or ops.arith(op, a, b)


def _load(env: _Env, name: str) -> Column:
    key = ("column", name)
    col = env.cache.get(key)
    if col is None:
        col = env.source.column(name)
        if len(col.values) != env.n:
            raise FilterError(f"column {name!r} has {len(col.values)} values but the source has "
                              f"{env.n} rows")
        env.cache[key] = col
    return col


def _typed_column(env: _Env, field: Any, desc: str) -> Val:
    key = ("typed", field.name)
    val = env.cache.get(key)
    if val is not None:
        return val
    col = _load(env, field.name)
    values, valid = np.asarray(col.values), col.valid
    dtype = field.dtype
    if dtype == DataType.BOOL:
        val = Val(BOOL, values.astype(bool, copy=False), valid, desc=desc)
    elif dtype in INTEGER_TYPES:
        val = Val(NUM, values.astype(np.int64, copy=False), valid, is_int=True, desc=desc)
    elif dtype == DataType.FLOAT:  # stays float32: `f > 0.3` compares in float32, like Milvus
        val = Val(NUM, values.astype(np.float32, copy=False), valid, desc=desc)
    elif dtype in FLOAT_TYPES:
        val = Val(NUM, values.astype(np.float64, copy=False), valid, desc=desc)
    elif dtype == DataType.TIMESTAMPTZ:  # int64 UTC microseconds
        val = Val(typed.TIME, values.astype(np.int64, copy=False), valid, desc=desc)
    else:  # VARCHAR / STRING
        if values.dtype != STRING_DTYPE:
            values = values.astype(STRING_DTYPE)
        val = Val(STR, values, valid, desc=desc)
        source, name = env.source, field.name   # NUL scan: cached per column by a collection
        val.nul = lambda: strings.source_has_nul(source, name, values)
    env.cache[key] = val
    return val


def _nulls_to_none(col: Column) -> np.ndarray:
    values = np.asarray(col.values, dtype=object)
    if col.valid is not None and not col.valid.all():
        values = values.copy()
        values[~np.asarray(col.valid, dtype=bool)] = None
    return values


def _json_column(env: _Env, name: str) -> np.ndarray:
    key = ("json", name)
    values = env.cache.get(key)
    if values is None:
        values = _nulls_to_none(_load(env, name))
        env.cache[key] = values
    return values


def _walk(x: Any, keys: tuple) -> Any:
    for k in keys:
        if type(k) is str:
            if type(x) is not dict or k not in x:
                return MISSING
            x = x[k]
        else:
            if type(x) is not list or not 0 <= k < len(x):
                return MISSING
            x = x[k]
    return x


def _resolve(values: np.ndarray, keys: tuple) -> np.ndarray:
    items = values.tolist()
    if len(keys) == 1 and type(keys[0]) is str:
        k = keys[0]
        try:  # every row a dict (the common case): 3x faster than checking types
            out = [x.get(k, MISSING) for x in items]
        except AttributeError:
            out = [x.get(k, MISSING) if type(x) is dict else MISSING for x in items]
    else:
        out = [_walk(x, keys) for x in items]
    return np.fromiter(out, dtype=object, count=len(out))


_MAX_PARAM_DEPTH = 64  # nested lists in filter_params (IN lists are flat; a bound, not recursion)


def _param_value(name: str, value: Any, depth: int = 0) -> Any:
    """A filter_params value as a plain JSON-like Python value (numpy scalars, tuples, arrays ok)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)):
        if depth >= _MAX_PARAM_DEPTH:
            raise OpError(f"filter_params[{name!r}] is nested more than {_MAX_PARAM_DEPTH} lists deep")
        return [_param_value(name, v, depth + 1) for v in value]
    if value is None or not isinstance(value, (bool, int, float, str)):
        raise OpError(f"filter_params[{name!r}] must be a number, string, bool or list, "
                      f"got {type(value).__name__}")
    if type(value) is int and not -(2**63) <= value < 2**63:
        raise OpError(f"filter_params[{name!r}] is out of the int64 range")
    if type(value) is str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise OpError(f"filter_params[{name!r}] holds a lone surrogate character, which is "
                          "not valid Unicode") from None
    return value


class _EmptySource:
    """Zero rows of every column of a schema, for the compile-time dry run."""

    num_rows = 0

    def __init__(self, schema: Any) -> None:
        self.schema = schema

    def column(self, name: str) -> Column:
        field = self.schema.field(name)
        dtype = field.dtype if field is not None else DataType.JSON
        if dtype == DataType.BOOL:
            return Column(np.zeros(0, dtype=bool))
        if dtype in INTEGER_TYPES or dtype == DataType.TIMESTAMPTZ:
            return Column(np.zeros(0, dtype=np.int64))
        if dtype in FLOAT_TYPES:
            return Column(np.zeros(0, dtype=np.float64))
        if dtype in (DataType.VARCHAR, DataType.STRING, DataType.GEOMETRY):
            return Column(np.zeros(0, dtype=STRING_DTYPE))
        return Column(np.empty(0, dtype=object))

    def text_match(self, field: str, query: str, minimum_should_match: int) -> np.ndarray:
        return np.zeros(0, dtype=bool)

    def phrase_match(self, field: str, phrase: str, slop: int) -> np.ndarray:
        return np.zeros(0, dtype=bool)
