"""Filter text -> AST, with lark (LALR, grammar in ``grammar.lark``).

Syntax errors become :class:`~embedb.errors.FilterError` with the line, the column and a caret
under the offending character, e.g.::

    invalid filter: unexpected '=' at line 1, column 7
      id === 1
            ^
"""

from __future__ import annotations

import functools
import re
from typing import Any

from ..errors import FilterError
from . import ast

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# Friendlier names than lark's terminal names, for error messages.
_TOKEN_NAMES = {
    "$END": "end of filter",
    "RPAR": "')'",
    "RSQB": "']'",
    "RBRACE": "'}'",
    "COMMA": "','",
}


@functools.lru_cache(maxsize=1)
def _lark():
    # deferred: keeps `import embedb` cheap. lalr_standalone holds lark's runtime and the
    # parse tables of grammar.lark, generated ahead of time (gen_parser.py): loading them costs
    # a third of building them from the grammar at the first filter of every process
    from . import lalr_standalone

    return lalr_standalone.Lark_StandAlone()


def parse_filter(text: str) -> ast.Node:
    """Parse filter ``text`` into an AST; FilterError with position on malformed input."""
    if not isinstance(text, str):
        raise FilterError(f"filter must be a string, got {type(text).__name__}")
    if not text.strip():
        raise FilterError("filter is empty")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:  # the columns hold UTF-8; numpy would fail on it later
        line = text.count("\n", 0, e.start) + 1
        column = e.start - (text.rfind("\n", 0, e.start) + 1) + 1
        printable = text.encode("utf-8", "replace").decode("utf-8")  # the message must print
        raise error_at(printable, (line, column),
                       "invalid filter: a lone surrogate character is not valid Unicode") from None
    from . import lalr_standalone as lark

    try:
        tree = _lark().parse(text)
    except lark.UnexpectedInput as e:
        raise _syntax_error(text, e) from None
    try:
        transformer = _ToAst()
        node = transformer.transform(tree)
    except lark.VisitError as e:
        if isinstance(e.orig_exc, _PosError):
            raise error_at(text, e.orig_exc.pos, e.orig_exc.message) from None
        raise
    for tok in transformer.unnegated_int64_bound.values():  # 2**63 with no minus before it
        raise error_at(text, _tok_pos(tok), f"integer literal {tok} is out of the int64 range")
    _check_depth(text, node)
    return node


# The compiler and the evaluator recurse once per AST level (about two Python frames each), so
# a bound well inside Python's default recursion limit of 1000 keeps every filter that passes
# this check safe to compile and run. Parsing and AST building are iterative.
MAX_FILTER_DEPTH = 200


def _check_depth(text: str, root: ast.Node) -> None:
    """FilterError when the AST is nested deeper than MAX_FILTER_DEPTH (walked without recursion)."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_FILTER_DEPTH:
            raise error_at(text, node.pos, f"filter is nested too deeply (more than "
                                           f"{MAX_FILTER_DEPTH} levels of operators, parentheses "
                                           "or lists)")
        stack.extend((child, depth + 1) for child in ast.children(node))


class _PosError(Exception):
    """Raised inside the transformer; parse_filter turns it into a FilterError with a caret."""

    def __init__(self, message: str, pos: ast.Pos) -> None:
        super().__init__(message)
        self.message, self.pos = message, pos


def error_at(text: str, pos: ast.Pos | None, message: str) -> FilterError:
    """A FilterError for ``message`` at ``pos`` (line, column), with a caret snippet."""
    if pos is None:
        return FilterError(f"{message} (in filter {text!r})")
    line, column = pos
    lines = text.splitlines() or [""]
    src = lines[min(line, len(lines)) - 1]
    caret = " " * (column - 1) + "^"
    return FilterError(f"{message} at line {line}, column {column}\n  {src}\n  {caret}")


def _syntax_error(text: str, e: Any) -> FilterError:
    from . import lalr_standalone as lark

    line, column = getattr(e, "line", -1), getattr(e, "column", -1)
    if isinstance(e, lark.UnexpectedToken) and e.token.type == "$END":
        line, column = _end_pos(text)
        what = "unexpected end of filter"
    elif isinstance(e, lark.UnexpectedCharacters):
        what = f"unexpected character {text[e.pos_in_stream]!r}"
    elif isinstance(e, lark.UnexpectedToken):
        what = f"unexpected {str(e.token)!r}"
    else:
        what = "unexpected end of filter"
        line, column = _end_pos(text)
    if line is None or line < 1:
        line, column = _end_pos(text)
    hint = _unsupported_hint(text)
    expected = _expected(e)
    msg = f"invalid filter: {what}"
    if expected:
        msg += f" (expected {expected})"
    if hint:
        msg += f"; {hint}"
    return error_at(text, (line, column), msg)


def _end_pos(text: str) -> ast.Pos:
    lines = text.splitlines() or [""]
    if text.endswith(("\n", "\r")):
        return len(lines) + 1, 1
    return len(lines), len(lines[-1]) + 1


def _expected(e: Any) -> str:
    names = sorted(getattr(e, "expected", None) or getattr(e, "allowed", None) or [])
    if not names or len(names) > 6:
        return ""
    return " or ".join(_TOKEN_NAMES.get(n, n) for n in names)


def _unsupported_hint(text: str) -> str:
    if re.search(r"\b(?:iso|interval)\s+[^'\"\s]", text, re.I):
        return "ISO and INTERVAL take a quoted string, like ISO '2025-01-01T00:00:00Z' or INTERVAL 'P1D'"
    if re.search(r"\$\[|(?<![\w\]\"'])\$(?!meta)", text):
        return "struct element paths ($, $[field]) are not supported"
    return ""


# ---- literal decoding ------------------------------------------------------------------------

_SIMPLE_ESCAPES = {
    "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "a": "\a",
    "\\": "\\", "'": "'", '"': '"', "?": "?", "\n": "",
}
_ESCAPE_RE = re.compile(
    r"\\(?:(?P<simple>[ntrbfva\\'\"?\n])|(?P<oct>[0-7]{1,3})|x(?P<hex>[0-9a-fA-F]+)"
    r"|u(?P<u4>[0-9a-fA-F]{4})|U(?P<u8>[0-9a-fA-F]{8})|(?P<other>.))",
    re.S,
)


def decode_string(token: str) -> str:
    """Decode a quoted string token with C escapes (\\n, \\t, \\", \\\\, \\xHH, \\uXXXX...).

    Unknown escapes such as ``\\%`` keep their backslash, so LIKE patterns can escape wildcards.
    """
    body = re.sub(r"^(?:u8|u|U|L)", "", token)[1:-1]
    if "\\" not in body:
        return body

    def repl(m: re.Match) -> str:
        if m.group("simple") is not None:
            return _SIMPLE_ESCAPES[m.group("simple")]
        if m.group("oct") is not None:
            return chr(int(m.group("oct"), 8))
        code = m.group("hex") or m.group("u4") or m.group("u8")
        if code is not None:
            value = int(code, 16)
            if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:  # not a character
                raise FilterError(f"invalid escape {m.group(0)!r} in string {token}")
            return chr(value)
        return "\\" + m.group("other")

    return _ESCAPE_RE.sub(repl, body)


def decode_raw_string(token: str) -> str:
    return token[2:-1]


def decode_int(token: str) -> int:
    t = token.lower()
    if t.startswith("0x"):
        value = int(t[2:], 16)
    elif t.startswith("0b"):
        value = int(t[2:], 2)
    elif t.startswith("0o"):
        value = int(t[2:], 8)
    elif len(t) > 1 and t.startswith("0"):
        value = int(t[1:], 8)  # C-style octal, as in Milvus
    else:
        value = int(t)
    return value


def decode_float(token: str) -> float:
    t = token.lower()
    if t.startswith("0x"):
        return float.fromhex(t)
    return float(t)


# ---- tree -> AST ---------------------------------------------------------------------------

def _pos(meta: Any) -> ast.Pos:
    return (getattr(meta, "line", 1) or 1, getattr(meta, "column", 1) or 1)


def _tok_pos(tok: Any) -> ast.Pos:
    return (tok.line or 1, tok.column or 1)


def _typed_literal(kind: str, children: list) -> ast.TypedLiteral:
    """``ISO '...'`` / ``INTERVAL '...'``: the keyword token, then the string token."""
    keyword, tok = children[0], children[-1]
    if tok.type == "RAW_STRING":
        text = decode_raw_string(str(tok))
    else:
        try:
            text = decode_string(str(tok))
        except FilterError as e:
            raise _PosError(e.message, _tok_pos(tok)) from None
    return ast.TypedLiteral(kind, text, pos=_tok_pos(keyword))


def _make_transformer():
    from . import lalr_standalone as lark

    class ToAst(lark.Transformer_NonRecursive):  # deep filters: no recursion
        def __init__(self):
            super().__init__()
            # 2**63 is only valid as the operand of a unary minus (INT64_MIN); such literals wait
            # here, by node id, until `unary` folds them, and any left over is an error
            self.unnegated_int64_bound: dict[int, Any] = {}

        # literals -----------------------------------------------------------------------
        @lark.v_args(meta=True)
        def literal(self, meta, children):
            tok = children[0]
            kind = tok.type
            if kind == "INT":
                value: Any = decode_int(str(tok))
                if value == _INT64_MAX + 1:
                    node = ast.Literal(value, pos=_tok_pos(tok))
                    self.unnegated_int64_bound[id(node)] = tok
                    return node
                if not _INT64_MIN <= value <= _INT64_MAX:
                    raise _PosError(f"integer literal {tok} is out of the int64 range",
                                    _tok_pos(tok))
            elif kind == "FLOAT":
                value = decode_float(str(tok))
            elif kind == "STRING":
                try:
                    value = decode_string(str(tok))
                except FilterError as e:
                    raise _PosError(e.message, _tok_pos(tok)) from None
            elif kind == "RAW_STRING":
                value = decode_raw_string(str(tok))
            else:  # BOOL
                value = str(tok).lower() == "true"
            return ast.Literal(value, pos=_tok_pos(tok))

        @lark.v_args(meta=True)
        def iso_lit(self, meta, children):
            return _typed_literal("iso", children)

        @lark.v_args(meta=True)
        def interval_lit(self, meta, children):
            return _typed_literal("interval", children)

        @lark.v_args(meta=True)
        def list_lit(self, meta, children):
            return ast.ListLit(tuple(c for c in children if c is not None), pos=_pos(meta))

        @lark.v_args(meta=True)
        def template(self, meta, children):
            return ast.Template(str(children[0]), pos=_pos(meta))

        @lark.v_args(meta=True)
        def path(self, meta, children):
            head, *subs = children
            keys = []
            for tok in subs:
                if tok.type == "INT":
                    keys.append(decode_int(str(tok)))
                elif tok.type == "STRING":
                    keys.append(decode_string(str(tok)))
                else:
                    keys.append(decode_raw_string(str(tok)))
            return ast.Ident(str(head), tuple(keys), pos=_tok_pos(head))

        # operators ------------------------------------------------------------------------
        @lark.v_args(meta=True)
        def unary(self, meta, children):
            op, operand = children
            if str(op) == "-" and self.unnegated_int64_bound.pop(id(operand), None) is not None:
                return ast.Literal(_INT64_MIN, pos=_tok_pos(op))
            return ast.Unary(str(op), operand, pos=_tok_pos(op))

        @lark.v_args(meta=True)
        def power(self, meta, children):
            left, _op, right = children
            return ast.Binary("**", left, right, pos=_pos(meta))

        @lark.v_args(meta=True)
        def binop(self, meta, children):
            node = children[0]
            for i in range(1, len(children), 2):
                op = children[i]
                node = ast.Binary(str(op), node, children[i + 1], pos=_pos(meta))
            return node

        def cmp_op(self, children):
            return children[0]

        @lark.v_args(meta=True)
        def compare(self, meta, children):
            left, op, right = children
            return ast.Compare(str(op), left, right, pos=_pos(meta))

        @lark.v_args(meta=True)
        def chain(self, meta, children):
            low, op1, middle, op2, high = children
            op1, op2 = str(op1), str(op2)  # cmp_op returned the operator token
            up = {"<", "<="}
            down = {">", ">="}
            if not ((op1 in up and op2 in up) or (op1 in down and op2 in down)):
                raise _PosError(
                    f"invalid range '{op1} ... {op2}': a chained comparison needs two of "
                    "< <= or two of > >=", _pos(meta))
            return ast.Range(low, op1, middle, op2, high, pos=_pos(meta))

        @lark.v_args(meta=True)
        def in_expr(self, meta, children):
            negate = len(children) == 4
            return ast.In(children[0], children[-1], negate, pos=_pos(meta))

        @lark.v_args(meta=True)
        def like(self, meta, children):
            return ast.Like(children[0], children[2], pos=_pos(meta))

        @lark.v_args(meta=True)
        def regex(self, meta, children):
            left, op, right = children
            return ast.Regex(left, right, negate=str(op) == "!~", pos=_pos(meta))

        @lark.v_args(meta=True)
        def is_null(self, meta, children):
            negate = len(children) == 4
            return ast.IsNull(children[0], negate, pos=_pos(meta))

        @lark.v_args(meta=True)
        def exists(self, meta, children):
            return ast.Exists(children[1], pos=_pos(meta))

        @lark.v_args(meta=True)
        def logical_not(self, meta, children):
            return ast.Not(children[1], pos=_pos(meta))

        @lark.v_args(meta=True)
        def and_expr(self, meta, children):
            items = tuple(c for c in children if isinstance(c, ast.Node))
            return ast.Logical("and", items, pos=_pos(meta))

        @lark.v_args(meta=True)
        def or_expr(self, meta, children):
            items = tuple(c for c in children if isinstance(c, ast.Node))
            return ast.Logical("or", items, pos=_pos(meta))

        # calls ----------------------------------------------------------------------------
        def arg(self, children):
            return children[0]

        def kwarg(self, children):
            return (str(children[0]).lower(), children[1])

        @lark.v_args(meta=True)
        def call(self, meta, children):
            name, *args = children
            positional = tuple(a for a in args if isinstance(a, ast.Node))
            kwargs = tuple(a for a in args if isinstance(a, tuple))
            return ast.Call(str(name).lower(), positional, kwargs, pos=_tok_pos(name))

    return ToAst


@functools.lru_cache(maxsize=1)
def _transformer_class():
    return _make_transformer()


def _ToAst():
    return _transformer_class()()
