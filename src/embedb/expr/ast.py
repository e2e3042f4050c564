"""The filter AST: small frozen dataclasses produced by :mod:`embedb.expr.parser`.

Every node carries ``pos = (line, column)`` (1-based) of its first token, so the compiler can name
the place of a semantic error (unknown field, type mismatch) the same way the parser does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterator

Pos = tuple[int, int]


@dataclass(frozen=True)
class Node:
    pos: Pos = field(compare=False, repr=False, kw_only=True, default=(1, 1))


@dataclass(frozen=True)
class Literal(Node):
    value: Any  # int | float | str | bool


@dataclass(frozen=True)
class TypedLiteral(Node):
    kind: str  # "iso" (ISO 'timestamp') | "interval" (INTERVAL 'duration')
    text: str


@dataclass(frozen=True)
class ListLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Template(Node):
    name: str  # {name}, bound from filter_params at evaluation


@dataclass(frozen=True)
class Ident(Node):
    """``name`` or ``$meta`` followed by zero or more ``[key]`` subscripts (str or int keys)."""

    name: str
    keys: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-", "+", "~"
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str  # "+ - * / % ** << >> & | ^"
    left: Node
    right: Node


@dataclass(frozen=True)
class Compare(Node):
    op: str  # "== != < <= > >="
    left: Node
    right: Node


@dataclass(frozen=True)
class Range(Node):
    """``low op1 middle op2 high``; both ops point the same way (``<``/``<=`` or ``>``/``>=``)."""

    low: Node
    op1: str
    middle: Node
    op2: str
    high: Node


@dataclass(frozen=True)
class Logical(Node):
    op: str  # "and" | "or"
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True)
class In(Node):
    value: Node
    options: Node  # ListLit or Template
    negate: bool = False


@dataclass(frozen=True)
class Like(Node):
    value: Node
    pattern: Node


@dataclass(frozen=True)
class Regex(Node):
    value: Node
    pattern: Node
    negate: bool = False


@dataclass(frozen=True)
class Exists(Node):
    operand: Node


@dataclass(frozen=True)
class IsNull(Node):
    operand: Node
    negate: bool = False  # IS NOT NULL


@dataclass(frozen=True)
class Call(Node):
    name: str  # lower-cased function name
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...] = ()


def children(node: Node) -> Iterator[Node]:
    """The direct sub-nodes of ``node`` (operands, list items, call arguments)."""
    for f in fields(node):
        value = getattr(node, f.name)
        if isinstance(value, Node):
            yield value
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, Node):
                    yield item
                elif isinstance(item, tuple):  # Call.kwargs: (name, node)
                    yield from (x for x in item if isinstance(x, Node))
