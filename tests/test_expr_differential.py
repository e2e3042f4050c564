"""Differential test of the filter language: random schemas, rows and filters (hypothesis).

Each example draws a schema (a random subset of typed, nullable, JSON, ARRAY fields, with or
without the dynamic field), rows with NULLs and nested JSON, and a random typed filter tree. The
tree is rendered to filter text (random keyword spellings, literal forms and templates) and
evaluated twice: by ``compile_filter(...).evaluate(...)`` and by the plain row-by-row Python
reference evaluator below (SQL three-valued logic: True / False / None for UNKNOWN). They must
agree on every row.
"""

from __future__ import annotations

import math
import re

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedb.expr import ArrayColumnSource, Column, compile_filter
from embedb.schema import CollectionSchema, DataType, FieldSchema

U = None  # UNKNOWN
MISSING = object()  # a JSON path that does not resolve
S = np.dtypes.StringDType()

# name -> (DataType, element type, kind used by the generator)
FIELDS = {
    "i64": (DataType.INT64, None, "int"),
    "i32": (DataType.INT32, None, "int"),
    "dbl": (DataType.DOUBLE, None, "float"),
    "flag": (DataType.BOOL, None, "bool"),
    "s": (DataType.VARCHAR, None, "str"),
    "j": (DataType.JSON, None, "json"),
    "ai": (DataType.ARRAY, DataType.INT64, "arr_int"),
    "as_": (DataType.ARRAY, DataType.VARCHAR, "arr_str"),
}
DYNAMIC_KEYS = ("k", "m")
JSON_KEYS = ("a", "b", "l")
ALPHABET = "ab%_"
REGEXES = ["^a", "b$", "a.b", "^$", "[b%]+", "_"]


# ---- the reference: classes and equality of JSON-like values -------------------------------

def cls(x):
    t = type(x)
    if t is bool:
        return "bool"
    if t is int or t is float:
        return "num"
    if t is str:
        return "str"
    if t is list:
        return "list"
    if t is dict:
        return "dict"
    return "null"


def json_eq(x, y):
    if cls(x) != cls(y):
        return False
    if cls(x) == "list":
        return len(x) == len(y) and all(json_eq(a, b) for a, b in zip(x, y))
    return x == y


def and3(a, b):
    if a is False or b is False:
        return False
    if a is True and b is True:
        return True
    return U


def or3(a, b):
    if a is True or b is True:
        return True
    if a is False and b is False:
        return False
    return U


def not3(a):
    return U if a is U else (not a)


def trunc_div(a, b):
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def like_match(s, pattern):
    """Wildcard matching by dynamic programming; \\% \\_ \\\\ are literal characters."""
    toks = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_\\":
            toks.append(("lit", pattern[i + 1]))
            i += 2
            continue
        toks.append(("any", None) if c == "%" else ("one", None) if c == "_" else ("lit", c))
        i += 1
    m, n = len(toks), len(s)
    dp = [[False] * (n + 1) for _ in range(m + 1)]
    dp[0][0] = True
    for ti in range(1, m + 1):
        kind, ch = toks[ti - 1]
        for si in range(0, n + 1):
            if kind == "any":
                dp[ti][si] = dp[ti - 1][si] or (si > 0 and dp[ti][si - 1])
            elif si > 0:
                dp[ti][si] = dp[ti - 1][si - 1] and (kind == "one" or s[si - 1] == ch)
    return dp[m][n]


# ---- filter trees: render() -> text, ev(row) -> reference value ------------------------------
# Value nodes return a "tagged" Python value: a number/str/bool, MISSING/None for NULL, and JSON
# nodes their raw value. Predicates return True / False / U.

class Ctx:
    def __init__(self, draw):
        self.draw = draw
        self.params = {}

    def kw(self, *spellings):
        return self.draw(st.sampled_from(spellings))

    def template(self, value):
        name = f"p{len(self.params)}"
        self.params[name] = value
        return "{" + name + "}"


def render_str(ctx, s):
    body = s.replace("\\", "\\\\")
    if ctx.draw(st.booleans()):
        return '"' + body.replace('"', '\\"') + '"'
    return "'" + body.replace("'", "\\'") + "'"


def render_literal(ctx, v, allow_template=True):
    if allow_template and ctx.draw(st.integers(0, 9)) == 0:
        return ctx.template(v)
    if type(v) is bool:
        return ctx.kw("true", "True", "TRUE") if v else ctx.kw("false", "False", "FALSE")
    if type(v) is int:
        if v < 0:
            return f"(-{render_literal(ctx, -v, False)})"
        form = ctx.draw(st.sampled_from(["dec", "dec", "hex", "oct", "bin"]))
        return {"dec": str(v), "hex": hex(v), "oct": "0o%o" % v, "bin": bin(v)}[form]
    if type(v) is float:
        return f"(-{repr(-v)})" if v < 0 else repr(v)
    if type(v) is str:
        return render_str(ctx, v)
    return "[" + ", ".join(render_literal(ctx, x, False) for x in v) + "]"


class Lit:
    def __init__(self, ctx, v):
        self.v = v
        self.text = render_literal(ctx, v)

    def render(self):
        return self.text

    def ev(self, row):
        return self.v


class Field:
    def __init__(self, name):
        self.name = name

    def render(self):
        return self.name

    def ev(self, row):
        return row[self.name]  # None where NULL


class JPath:
    """A JSON field path, a dynamic key ($meta["k"] or bare k), or an ARRAY element."""

    def __init__(self, base, keys, text):
        self.base, self.keys, self.text = base, keys, text

    def render(self):
        return self.text

    def ev(self, row):
        x = row[self.base]
        if x is None:
            return MISSING
        for k in self.keys:
            if type(k) is str:
                if type(x) is not dict or k not in x:
                    return MISSING
            elif type(x) is not list or not 0 <= k < len(x):
                return MISSING
            x = x[k]
        return x


def as_number(v):
    return v if cls(v) == "num" else U


class Arith:
    def __init__(self, op, a, b, int_sem):
        self.op, self.a, self.b, self.int_sem = op, a, b, int_sem

    def render(self):
        return f"({self.a.render()} {self.op} {self.b.render()})"

    def ev(self, row):
        a, b = as_number(self.a.ev(row)), as_number(self.b.ev(row))
        if a is U or b is U:
            return U
        op = self.op
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op in "/%":
            if b == 0:
                return U
            if self.int_sem:
                return trunc_div(a, b) if op == "/" else a - b * trunc_div(a, b)
            return a / b if op == "/" else math.fmod(a, b)
        if op in ("&", "|", "^"):
            return {"&": a & b, "|": a | b, "^": a ^ b}[op]
        if op in ("<<", ">>"):
            if not 0 <= b <= 63:
                return U
            return a << b if op == "<<" else a >> b
        try:
            r = math.pow(a, b)
        except (ValueError, OverflowError, ZeroDivisionError):
            return U
        return r if math.isfinite(r) else U


class Neg:
    def __init__(self, a, op="-"):
        self.a, self.op = a, op

    def render(self):
        return f"({self.op}{self.a.render()})"

    def ev(self, row):
        a = as_number(self.a.ev(row))
        if a is U:
            return U
        return -a if self.op == "-" else (~a if self.op == "~" else a)


class ArrayLength:
    def __init__(self, target):
        self.target = target

    def render(self):
        return f"array_length({self.target.render()})"

    def ev(self, row):
        v = self.target.ev(row)
        return len(v) if type(v) is list else U


def compare_values(op, a, b):
    ca, cb = cls(a), cls(b)
    if ca != cb or ca not in ("num", "str", "bool"):
        return U
    if ca == "bool" and op not in ("==", "!="):
        return U
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


class Cmp:
    def __init__(self, op, a, b):
        self.op, self.a, self.b = op, a, b

    def render(self):
        return f"({self.a.render()} {self.op} {self.b.render()})"

    def ev(self, row):
        return compare_values(self.op, self.a.ev(row), self.b.ev(row))


class Range:
    def __init__(self, lo, op1, mid, op2, hi):
        self.lo, self.op1, self.mid, self.op2, self.hi = lo, op1, mid, op2, hi

    def render(self):
        return (f"({self.lo.render()} {self.op1} {self.mid.render()} {self.op2} "
                f"{self.hi.render()})")

    def ev(self, row):
        m = self.mid.ev(row)
        return and3(compare_values(self.op1, self.lo.ev(row), m),
                    compare_values(self.op2, m, self.hi.ev(row)))


class Logic:
    def __init__(self, ctx, op, items):
        self.op, self.items = op, items
        self.words = [ctx.kw(*(("and", "AND", "&&", "And") if op == "and" else ("or", "OR", "||")))
                      for _ in items[1:]]

    def render(self):
        out = self.items[0].render()
        for w, item in zip(self.words, self.items[1:]):
            out += f" {w} {item.render()}"
        return f"({out})"

    def ev(self, row):
        f = and3 if self.op == "and" else or3
        r = self.items[0].ev(row)
        for item in self.items[1:]:
            r = f(r, item.ev(row))
        return r


class Not:
    def __init__(self, ctx, a):
        self.a, self.word = a, ctx.kw("not ", "NOT ", "!", "! ")

    def render(self):
        return f"({self.word}{self.a.render()})"

    def ev(self, row):
        return not3(self.a.ev(row))


class In:
    def __init__(self, ctx, a, items, negate):
        self.a, self.items, self.negate = a, items, negate
        self.list_text = (ctx.template(items) if ctx.draw(st.integers(0, 5)) == 0
                          else render_literal(ctx, items, False))
        self.word = ctx.kw("not in", "NOT IN", "not  in") if negate else ctx.kw("in", "IN")

    def render(self):
        return f"({self.a.render()} {self.word} {self.list_text})"

    def ev(self, row):
        v = self.a.ev(row)
        r = False
        for x in self.items:
            r = or3(r, compare_values("==", v, x))
        return not3(r) if self.negate else r


class Like:
    def __init__(self, ctx, a, pattern):
        self.a, self.pattern = a, pattern
        self.word, self.text = ctx.kw("like", "LIKE", "Like"), render_str(ctx, pattern)

    def render(self):
        return f"({self.a.render()} {self.word} {self.text})"

    def ev(self, row):
        v = self.a.ev(row)
        return like_match(v, self.pattern) if cls(v) == "str" else U


class Regex:
    def __init__(self, ctx, a, pattern, negate):
        self.a, self.pattern, self.negate = a, pattern, negate
        self.text = render_str(ctx, pattern)

    def render(self):
        return f"({self.a.render()} {'!~' if self.negate else '=~'} {self.text})"

    def ev(self, row):
        v = self.a.ev(row)
        if cls(v) != "str":
            return U
        return (re.search(self.pattern, v) is not None) != self.negate


class Exists:
    def __init__(self, ctx, path):
        self.path, self.word = path, ctx.kw("exists", "EXISTS")

    def render(self):
        return f"({self.word} {self.path.render()})"

    def ev(self, row):
        return self.path.ev(row) is not MISSING


class IsNull:
    def __init__(self, ctx, target, negate):
        self.target, self.negate = target, negate
        self.word = (ctx.kw("is not null", "IS NOT NULL", "is NOT null") if negate
                     else ctx.kw("is null", "IS NULL", "Is Null"))

    def render(self):
        return f"({self.target.render()} {self.word})"

    def ev(self, row):
        v = self.target.ev(row)
        null = v is None or v is MISSING
        return (not null) if self.negate else null


class Contains:
    def __init__(self, ctx, name, mode, target, value):
        self.name, self.mode, self.target, self.value = name, mode, target, value
        self.text = render_literal(ctx, value, allow_template=True)

    def render(self):
        return f"{self.name}({self.target.render()}, {self.text})"

    def ev(self, row):
        v = self.target.ev(row)
        if type(v) is not list:
            return U
        if self.mode == "one":
            return any(json_eq(e, self.value) for e in v)
        found = [any(json_eq(e, w) for e in v) for w in self.value]
        return all(found) if self.mode == "all" else any(found)


class Predicate:
    """A BOOL field or a JSON path used directly as a condition."""

    def __init__(self, target):
        self.target = target

    def render(self):
        return self.target.render()

    def ev(self, row):
        v = self.target.ev(row)
        return v if cls(v) == "bool" else U


# ---- generators -----------------------------------------------------------------------------

SMALL_INTS = st.integers(-4, 6)
SMALL_FLOATS = st.sampled_from([-1.5, -0.5, 0.0, 0.5, 1.0, 2.5, 3.0, 1e-3])
SHORT_STRS = st.text(alphabet=ALPHABET, max_size=3)


def json_scalars():
    return st.one_of(SMALL_INTS, SMALL_FLOATS, st.booleans(), SHORT_STRS, st.none())


def json_values():
    return st.recursive(
        json_scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(JSON_KEYS), inner, max_size=3),
        ),
        max_leaves=6,
    )


def json_docs():
    return st.one_of(
        st.dictionaries(st.sampled_from(JSON_KEYS), json_values(), max_size=3),
        st.dictionaries(st.sampled_from(JSON_KEYS), json_values(), max_size=3),
        json_values(),
    )


class Gen:
    def __init__(self, ctx, fields, dynamic):
        self.ctx, self.draw = ctx, ctx.draw
        self.fields = fields  # name -> kind
        self.dynamic = dynamic

    def names(self, *kinds):
        return [n for n, k in self.fields.items() if k in kinds]

    def pick(self, options):
        return self.draw(st.sampled_from(options))

    # value expressions ------------------------------------------------------------------
    def json_path(self):
        options = []
        if "j" in self.fields:
            options.append("json")
        if self.dynamic:
            options.append("dyn")
        if not options:
            return None
        if self.pick(options) == "dyn":
            key = self.pick(list(DYNAMIC_KEYS))
            extra = self.pick([(), (), (0,), ("a",)])
            sub = "".join(f"[{render_literal(self.ctx, k, False)}]" for k in extra)
            text = (f'$meta["{key}"]' if self.draw(st.booleans()) else key) + sub
            return JPath("$meta", (key,) + extra, text)
        keys = self.pick([(), ("a",), ("b",), ("l",), ("a", "b"), ("l", 0), ("a", 1), (0,)])
        text = "j" + "".join(f"[{render_literal(self.ctx, k, False)}]" for k in keys)
        return JPath("j", keys, text)

    def array_elem(self, kind):
        names = self.names(kind)
        if not names:
            return None
        name = self.pick(names)
        idx = self.draw(st.integers(0, 3))
        return JPath(name, (idx,), f"{name}[{idx}]")

    def num_leaf(self):
        options = [("lit_int",), ("lit_float",)]
        options += [("field", n) for n in self.names("int", "float")]
        if self.json_path() is not None:
            options.append(("json",))
        if self.names("arr_int"):
            options.append(("elem",))
        if self.names("arr_int", "arr_str") or "j" in self.fields:
            options.append(("length",))
        choice = self.pick(options)
        if choice[0] == "lit_int":
            return Lit(self.ctx, self.draw(SMALL_INTS)), True, True
        if choice[0] == "lit_float":
            return Lit(self.ctx, self.draw(SMALL_FLOATS)), False, True
        if choice[0] == "field":
            return Field(choice[1]), self.fields[choice[1]] == "int", False
        if choice[0] == "json":
            return self.json_path(), False, False
        if choice[0] == "elem":
            return self.array_elem("arr_int"), True, False
        targets = [Field(n) for n in self.names("arr_int", "arr_str")]
        if "j" in self.fields:
            targets.append(JPath("j", ("l",), 'j["l"]'))
        return ArrayLength(self.pick(targets)), True, False

    def num_expr(self, depth):
        """(node, integer semantics, is a literal)."""
        if depth <= 0 or self.draw(st.booleans()):
            return self.num_leaf()
        if self.draw(st.integers(0, 5)) == 0:
            a, a_int, a_lit = self.num_expr(depth - 1)
            if a_lit:
                return a, a_int, a_lit
            return Neg(a, self.pick(["-", "~", "+"] if a_int else ["-", "+"])), a_int, False
        op = self.pick(["+", "-", "*", "/", "%", "**", "+", "*"])
        a, a_int, a_lit = self.num_expr(depth - 1)
        b, b_int, b_lit = self.num_expr(depth - 1)
        while a_lit and b_lit:  # constant folding is tested by hand, not here
            b, b_int, b_lit = self.num_leaf()
        if a_int and b_int and not a_lit and self.draw(st.integers(0, 2)) == 0:
            op = self.pick(["&", "|", "^", "<<", ">>"])  # integer-only operators
            if op in ("<<", ">>"):  # small counts keep results exact in int64
                b = Lit(self.ctx, self.draw(st.integers(-1, 5)))
            return Arith(op, a, b, True), True, False
        return Arith(op, a, b, a_int and b_int and op != "**"), a_int and b_int and op != "**", False

    def str_operand(self):
        options = []
        if "s" in self.fields:
            options += [Field("s")] * 3
        path = self.json_path()
        if path is not None:
            options.append(path)
        elem = self.array_elem("arr_str")
        if elem is not None:
            options.append(elem)
        return self.pick(options) if options else None

    # predicates -------------------------------------------------------------------------
    def pred(self, depth):
        kinds = ["cmp_num", "cmp_num", "cmp_num", "range", "in_num"]
        if self.str_operand() is not None:
            kinds += ["cmp_str", "in_str", "like", "regex"]
        if self.names("bool"):
            kinds += ["bool_field", "cmp_bool"]
        if self.json_path() is not None:
            kinds += ["cmp_json", "cmp_json_json", "in_json", "exists", "json_pred", "contains"]
        if self.names("arr_int", "arr_str"):
            kinds += ["array_contains"]
        kinds += ["is_null"]
        if depth > 0:
            kinds += ["and", "or", "not"] * 4
        kind = self.pick(kinds)
        ctx = self.ctx
        if kind in ("and", "or"):
            items = [self.pred(depth - 1) for _ in range(self.draw(st.integers(2, 3)))]
            return Logic(ctx, kind, items)
        if kind == "not":
            return Not(ctx, self.pred(depth - 1))
        if kind == "cmp_num":
            a = self.num_expr(2)[0]
            b = self.num_expr(1)[0]
            return Cmp(self.pick(["==", "!=", "<", "<=", ">", ">="]), a, b)
        if kind == "range":
            lo, hi = Lit(ctx, self.draw(SMALL_INTS)), Lit(ctx, self.draw(SMALL_FLOATS))
            mid = self.num_expr(1)[0]
            if self.draw(st.booleans()):
                return Range(lo, self.pick(["<", "<="]), mid, self.pick(["<", "<="]), hi)
            return Range(hi, self.pick([">", ">="]), mid, self.pick([">", ">="]), lo)
        if kind == "in_num":
            a = self.num_expr(1)[0]
            items = self.draw(st.lists(st.one_of(SMALL_INTS, SMALL_FLOATS), max_size=5))
            return In(ctx, a, items, self.draw(st.booleans()))
        if kind == "cmp_str":
            a = self.str_operand()
            other = self.str_operand() if self.draw(st.booleans()) else Lit(ctx, self.draw(SHORT_STRS))
            return Cmp(self.pick(["==", "!=", "<", "<=", ">", ">="]), a, other)
        if kind == "in_str":
            items = self.draw(st.lists(SHORT_STRS, max_size=10))
            return In(ctx, self.str_operand(), items, self.draw(st.booleans()))
        if kind == "like":
            pattern = self.draw(st.lists(st.sampled_from(["a", "b", "%", "_", "\\%", "\\_"]),
                                         max_size=4))
            return Like(ctx, self.str_operand(), "".join(pattern))
        if kind == "regex":
            return Regex(ctx, self.str_operand(), self.pick(REGEXES), self.draw(st.booleans()))
        if kind == "bool_field":
            return Predicate(Field(self.pick(self.names("bool"))))
        if kind == "cmp_bool":
            return Cmp(self.pick(["==", "!="]), Field(self.pick(self.names("bool"))),
                       Lit(ctx, self.draw(st.booleans())))
        if kind == "cmp_json":
            value = self.draw(json_scalars().filter(lambda x: x is not None))
            ops = ["==", "!="] if type(value) is bool else ["==", "!=", "<", "<=", ">", ">="]
            return Cmp(self.pick(ops), self.json_path(), Lit(ctx, value))
        if kind == "cmp_json_json":
            return Cmp(self.pick(["==", "!=", "<", ">="]), self.json_path(), self.json_path())
        if kind == "in_json":
            items = self.draw(st.lists(json_scalars().filter(lambda x: x is not None), max_size=4))
            return In(ctx, self.json_path(), items, self.draw(st.booleans()))
        if kind == "exists":
            return Exists(ctx, self.json_path())
        if kind == "json_pred":
            return Predicate(self.json_path())
        if kind == "contains":
            target = self.json_path()
            mode = self.pick(["one", "all", "any"])
            name = {"one": "json_contains", "all": "json_contains_all",
                    "any": "json_contains_any"}[mode]
            if mode == "one":
                value = self.draw(st.one_of(json_scalars().filter(lambda x: x is not None),
                                            st.lists(SMALL_INTS, max_size=2)))
            else:
                value = self.draw(st.lists(json_scalars().filter(lambda x: x is not None),
                                           max_size=3))
            return Contains(ctx, name, mode, target, value)
        if kind == "array_contains":
            name = self.pick(self.names("arr_int", "arr_str"))
            elems = SMALL_INTS if self.fields[name] == "arr_int" else SHORT_STRS
            mode = self.pick(["one", "all", "any"])
            fname = {"one": "array_contains", "all": "array_contains_all",
                     "any": "ARRAY_CONTAINS_ANY"}[mode]
            value = self.draw(elems) if mode == "one" else self.draw(st.lists(elems, max_size=3))
            return Contains(ctx, fname, mode, Field(name), value)
        # is_null: a typed field, a JSON path, an ARRAY field or element
        targets = [Field(n) for n in self.fields]
        path = self.json_path()
        if path is not None:
            targets.append(path)
        for kind_ in ("arr_int", "arr_str"):
            elem = self.array_elem(kind_)
            if elem is not None:
                targets.append(elem)
        return IsNull(ctx, self.pick(targets), self.draw(st.booleans()))


def column_values(draw, kind, nullable, n):
    values, valid = [], []
    for _ in range(n):
        if nullable and draw(st.integers(0, 3)) == 0:
            values.append(None)
            valid.append(False)
            continue
        valid.append(True)
        if kind == "int":
            values.append(draw(SMALL_INTS))
        elif kind == "float":
            values.append(draw(SMALL_FLOATS))
        elif kind == "bool":
            values.append(draw(st.booleans()))
        elif kind == "str":
            values.append(draw(SHORT_STRS))
        elif kind == "json":
            values.append(draw(json_docs().filter(lambda x: x is not None)))
        elif kind == "arr_int":
            values.append(draw(st.lists(SMALL_INTS, max_size=4)))
        else:
            values.append(draw(st.lists(SHORT_STRS, max_size=4)))
    return values, valid


def to_column(field_type, kind, values, valid):
    n = len(values)
    mask = np.array(valid, dtype=bool) if not all(valid) else None
    if kind in ("json", "arr_int", "arr_str"):
        arr = np.empty(n, dtype=object)
        for i, v in enumerate(values):
            arr[i] = v
        return Column(arr, mask)
    fill = {"int": 0, "float": 0.0, "bool": False, "str": ""}[kind]
    plain = [fill if v is None else v for v in values]
    dtype = {DataType.INT64: np.int64, DataType.INT32: np.int32, DataType.DOUBLE: np.float64,
             DataType.BOOL: bool, DataType.VARCHAR: S}[field_type]
    return Column(np.array(plain, dtype=dtype), mask)


@st.composite
def cases(draw):
    chosen = draw(st.lists(st.sampled_from(sorted(FIELDS)), unique=True, min_size=1, max_size=6))
    dynamic = draw(st.booleans())
    nullable = {name: draw(st.booleans()) for name in chosen}
    fields = [FieldSchema("id", DataType.INT64, is_primary=True)]
    for name in chosen:
        dtype, elem, _ = FIELDS[name]
        kwargs = {"element_type": elem, "max_capacity": 8} if elem else {}
        if dtype == DataType.VARCHAR:
            kwargs["max_length"] = 64
        fields.append(FieldSchema(name, dtype, nullable=nullable[name], **kwargs))
    schema = CollectionSchema(fields, enable_dynamic_field=dynamic)
    n = draw(st.integers(0, 12))
    columns = {"id": Column(np.arange(n, dtype=np.int64))}
    rows = [{} for _ in range(n)]
    for name in chosen:
        dtype, _, kind = FIELDS[name]
        values, valid = column_values(draw, kind, nullable[name], n)
        columns[name] = to_column(dtype, kind, values, valid)
        for row, v in zip(rows, values):
            row[name] = v
    if dynamic:
        metas = [draw(st.dictionaries(st.sampled_from(DYNAMIC_KEYS), json_values(), max_size=2))
                 for _ in range(n)]
        meta_col = np.empty(n, dtype=object)
        for i, m in enumerate(metas):
            meta_col[i] = m
            rows[i]["$meta"] = m
        columns["$meta"] = Column(meta_col)
    filters = []
    for _ in range(FILTERS_PER_CASE):
        ctx = Ctx(draw)
        gen = Gen(ctx, {name: FIELDS[name][2] for name in chosen}, dynamic)
        filters.append((gen.pred(draw(st.integers(0, 3))), ctx.params))
    return schema, columns, rows, filters


FILTERS_PER_CASE = 4


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(cases())
def test_filters_agree_with_reference(case):
    schema, columns, rows, filters = case
    source = ArrayColumnSource(schema, columns, len(rows))
    for tree, params in filters:
        text = tree.render()
        got = compile_filter(text, schema).evaluate(source, params)
        expected = np.array([tree.ev(row) is True for row in rows], dtype=bool)
        assert got.dtype == bool and got.shape == (len(rows),)
        if not np.array_equal(got, expected):
            detail = [(i, rows[i], bool(got[i]), tree.ev(rows[i])) for i in range(len(rows))
                      if got[i] != expected[i]]
            raise AssertionError(f"filter {text!r} params={params!r}: mismatches {detail}")
