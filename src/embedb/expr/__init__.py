"""The filter language: grammar -> AST -> compiled column-mask evaluator.

>>> cf = compile_filter('age > 18 and name like "A%"', schema)
>>> mask = cf.evaluate(source)            # np.ndarray[bool], the rows where the filter is TRUE

See docs/filters.md for the language and docs/dev/engine-api.md for the contract.
"""

from __future__ import annotations

from .compiler import CompiledFilter, compile_filter
from .parser import parse_filter
from .source import ArrayColumnSource, Column, ColumnSource

__all__ = [
    "ArrayColumnSource",
    "Column",
    "ColumnSource",
    "CompiledFilter",
    "compile_filter",
    "parse_filter",
]
