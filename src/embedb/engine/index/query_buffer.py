"""One COSINE query normalised into arrays made once, bit for bit as ``dense.normalized`` makes
it: the single-query lanes (``search_fast``'s unfiltered lane, ``filtered.search_masked_one``)
hand faiss its pointer instead of allocating per call (an allocation costs a microsecond or
more with the CPU caches cold from the graph search). Used only under the index entry's lock,
which keeps the arrays."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

_F32 = np.dtype(np.float32)
_sum = np.add.reduce   # normalized()'s float32 pairwise sum of squares, without its wrapper
_mul, _div = np.multiply, np.divide


class NormalisedQuery:
    __slots__ = ("ptr", "squares", "norm", "query", "query_ptr")

    def __init__(self, dim: int, ptr: Callable[[np.ndarray], Any]) -> None:
        self.ptr = ptr   # faiss's swig_ptr (its builtin)
        self.squares = np.empty(dim, _F32)   # v * v, for normalized()'s sum
        self.norm = np.empty((), _F32)   # |v|: a 0-d array divides faster than a scalar is made
        self.query = np.empty(dim, _F32)     # v / |v|
        self.query_ptr = ptr(self.query)

    def pointer(self, v: np.ndarray) -> Any:
        """A pointer to ``v`` normalised: normalized()'s float32 pairwise sum of the squares,
        its square root in double rounded to float32 (that is the float32 root), one division;
        a zero ``v`` as it is. None when the sum is not finite (a NaN or inf query, or one
        whose squares overflow: the general path words or answers it)."""
        squares = self.squares
        _mul(v, v, squares)
        s = _sum(squares)
        if not math.isfinite(s):
            return None
        if not s:
            return self.ptr(v)
        self.norm[()] = math.sqrt(s)
        _div(v, self.norm, self.query)
        return self.query_ptr
