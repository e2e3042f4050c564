"""The filter AST: small immutable nodes produced by :mod:`embedb.expr.parser`.

Every node carries ``pos = (line, column)`` (1-based) of its first token, so the compiler can name
the place of a semantic error (unknown field, type mismatch) the same way the parser does.

Nodes behave as frozen dataclasses with a keyword-only ``pos`` left out of ``==``, ``hash`` and
``repr``; they are declared the same way (annotated fields, defaults), but ``@_node`` records
the fields instead of generating methods with ``exec`` per class: 20 dataclasses cost 8 ms of
the first filter's start-up.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import Any, Iterator

Pos = tuple[int, int]


class Node:
    _fields: tuple[str, ...] = ()
    _defaults: dict[str, Any] = {}
    pos: Pos

    def __init__(self, *args: Any, pos: Pos = (1, 1), **kwargs: Any) -> None:
        cls, names = type(self), self._fields
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes {len(names)} positional arguments, got {len(args)}")
        values = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names or key in values:
                raise TypeError(f"{cls.__name__}() got an unexpected or repeated argument {key!r}")
            values[key] = value
        put = object.__setattr__
        for name in names:
            if name in values:
                put(self, name, values[name])
            elif name in self._defaults:
                put(self, name, self._defaults[name])
            else:
                raise TypeError(f"{cls.__name__}() missing required argument {name!r}")
        put(self, "pos", pos)

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({inner})"


def _node(cls: type) -> type:
    """Record a node class's fields (its annotations, after its bases') and their defaults."""
    own = tuple(cls.__dict__.get("__annotations__", {}))
    cls._fields = cls.__mro__[1]._fields + own
    cls._defaults = {**cls.__mro__[1]._defaults, **{n: cls.__dict__[n] for n in own if n in cls.__dict__}}
    cls.__match_args__ = cls._fields
    return cls


@_node
class Literal(Node):
    value: Any  # int | float | str | bool


@_node
class TypedLiteral(Node):
    kind: str  # "iso" (ISO 'timestamp') | "interval" (INTERVAL 'duration')
    text: str


@_node
class ListLit(Node):
    items: tuple[Node, ...]


@_node
class Template(Node):
    name: str  # {name}, bound from filter_params at evaluation


@_node
class Ident(Node):
    """``name`` or ``$meta`` followed by zero or more ``[key]`` subscripts (str or int keys)."""

    name: str
    keys: tuple[Any, ...] = ()


@_node
class Unary(Node):
    op: str  # "-", "+", "~"
    operand: Node


@_node
class Binary(Node):
    op: str  # "+ - * / % ** << >> & | ^"
    left: Node
    right: Node


@_node
class Compare(Node):
    op: str  # "== != < <= > >="
    left: Node
    right: Node


@_node
class Range(Node):
    """``low op1 middle op2 high``; both ops point the same way (``<``/``<=`` or ``>``/``>=``)."""

    low: Node
    op1: str
    middle: Node
    op2: str
    high: Node


@_node
class Logical(Node):
    op: str  # "and" | "or"
    items: tuple[Node, ...]


@_node
class Not(Node):
    operand: Node


@_node
class In(Node):
    value: Node
    options: Node  # ListLit or Template
    negate: bool = False


@_node
class Like(Node):
    value: Node
    pattern: Node


@_node
class Regex(Node):
    value: Node
    pattern: Node
    negate: bool = False


@_node
class Exists(Node):
    operand: Node


@_node
class IsNull(Node):
    operand: Node
    negate: bool = False  # IS NOT NULL


@_node
class Call(Node):
    name: str  # lower-cased function name
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...] = ()


def children(node: Node) -> Iterator[Node]:
    """The direct sub-nodes of ``node`` (operands, list items, call arguments)."""
    for name in node._fields:
        value = getattr(node, name)
        if isinstance(value, Node):
            yield value
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, Node):
                    yield item
                elif isinstance(item, tuple):  # Call.kwargs: (name, node)
                    yield from (x for x in item if isinstance(x, Node))
