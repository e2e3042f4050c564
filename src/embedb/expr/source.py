"""What a compiled filter reads: columns of a collection, behind the ``ColumnSource`` protocol.

Value representations (fixed by docs/dev/engine-api.md): BOOL ``bool``; INT8..INT64 the matching
int dtype; FLOAT ``float32``; DOUBLE ``float64``; VARCHAR ``np.dtypes.StringDType()`` ("" where
NULL); JSON an object array of parsed values (None where NULL); ARRAY an object array of lists
(None where NULL); ``$meta`` an object array of dicts (``{}`` when a row has no dynamic field).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import numpy as np

from ..errors import FilterError, ParamError


@dataclass
class Column:
    values: np.ndarray  # length num_rows
    valid: np.ndarray | None = None  # bool, False where the value is NULL; None = no NULLs


@runtime_checkable
class ColumnSource(Protocol):
    num_rows: int

    def column(self, name: str) -> Column: ...

    def text_match(self, field: str, query: str, minimum_should_match: int) -> np.ndarray: ...

    def phrase_match(self, field: str, phrase: str, slop: int) -> np.ndarray: ...


class ArrayColumnSource:
    """A ColumnSource over in-memory columns, for tests and for callers holding plain arrays.

    ``columns`` maps field names (and ``"$meta"``) to :class:`Column` objects (or bare arrays,
    taken as having no NULLs). ``text_match``/``phrase_match`` are delegated to the optional
    callables given here (``fn(field, query, n) -> bool mask``); without them those filters raise
    a FilterError saying the source cannot run full-text matches.
    """

    def __init__(
        self,
        schema: Any,
        columns: Mapping[str, Column | np.ndarray],
        num_rows: int,
        *,
        text_match: Callable[[str, str, int], np.ndarray] | None = None,
        phrase_match: Callable[[str, str, int], np.ndarray] | None = None,
    ) -> None:
        self.schema = schema
        self.num_rows = int(num_rows)
        self._columns: dict[str, Column] = {}
        for name, col in columns.items():
            if not isinstance(col, Column):
                col = Column(np.asarray(col), None)
            if np.ndim(col.values) != 1:  # np.array(list_of_equal_lists, dtype=object) is 2-D
                raise ParamError(f"column {name!r} must be a 1-D array; build ARRAY/JSON columns "
                                 "with np.empty(n, dtype=object) and assign each row")
            if len(col.values) != self.num_rows:
                raise ParamError(
                    f"column {name!r} has {len(col.values)} values, expected {self.num_rows}"
                )
            if col.valid is not None and len(col.valid) != self.num_rows:
                raise ParamError(f"column {name!r}: valid mask length differs from num_rows")
            self._columns[name] = col
        self._text_match = text_match
        self._phrase_match = phrase_match

    def column(self, name: str) -> Column:
        try:
            return self._columns[name]
        except KeyError:
            if name == "$meta":
                empty = np.empty(self.num_rows, dtype=object)
                empty[:] = [{} for _ in range(self.num_rows)]
                return Column(empty, None)
            raise FilterError(f"column {name!r} is not available in this source") from None

    def text_match(self, field: str, query: str, minimum_should_match: int) -> np.ndarray:
        if self._text_match is None:
            raise FilterError("text_match is not available on this column source")
        return np.asarray(self._text_match(field, query, minimum_should_match), dtype=bool)

    def phrase_match(self, field: str, phrase: str, slop: int) -> np.ndarray:
        if self._phrase_match is None:
            raise FilterError("phrase_match is not available on this column source")
        return np.asarray(self._phrase_match(field, phrase, slop), dtype=bool)
