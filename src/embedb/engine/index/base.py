"""What every vector index implements, and the catalogue of index types with their parameters.

Indexes speak in collection row numbers (faiss ids = row numbers). An index covers rows
``[0, ntotal)``; rows appended later are the *tail*, searched exactly by the manager until they
are folded in with :meth:`VectorIndex.add`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ParamError
from . import topk

MAX_TOPK = 16384


@dataclass
class SearchRequest:
    """One search against one index: queries already validated and converted."""

    k: int
    allowed: np.ndarray | None = None        # bool over rows [0, ntotal) or None = all
    params: dict[str, Any] = field(default_factory=dict)   # ef, nprobe, drop_ratio_search...
    pk_of: topk.PkOf | None = None
    # of a filter mask over all rows (engine.filter_cache.Survivors): the allowed row count and
    # the mask as packed little-endian bits, computed once per mask rather than per search
    allowed_count: int | None = None
    allowed_bits: np.ndarray | None = None
    allowed_cache: dict | None = None   # per mask: objects an index derives from it, kept


class VectorIndex:
    """Base class. Subclasses set ``index_type`` and implement build/add/search/save/load."""

    index_type = ""
    #: True when the index has state worth persisting (files written by save())
    persistent = True
    #: True when the files hold no vectors (HNSW graph, IVF_FLAT centroids): load() is then
    #: called with ``vectors=`` (the column) and rebuilds its storage from them
    loads_from_columns = False

    def __init__(self, metric_type: str, params: dict[str, Any], dim: int) -> None:
        self.metric_type = metric_type
        self.params = params
        self.dim = dim
        self.ntotal = 0          # rows [0, ntotal) are in the index

    @classmethod
    def validate(cls, params: dict, dim: int) -> dict:
        """Checked, defaulted build parameters (ParamError naming a bad one)."""
        return {}

    # rows ------------------------------------------------------------------------------
    def ready(self, num_rows: int) -> bool:
        """Whether an index can be built over ``num_rows`` rows (IVF needs enough to train)."""
        return True

    def build(self, vectors: Any) -> None:
        """(Re)build over rows ``[0, len(vectors))``."""
        self.ntotal = 0
        self.add(vectors)

    def add(self, vectors: Any) -> None:
        """Append rows ``[ntotal, ntotal + len(vectors))``."""
        raise NotImplementedError

    def search(self, queries: Any, vectors: Any, req: SearchRequest) -> tuple[np.ndarray, np.ndarray]:
        """Top-k over the covered rows. ``vectors`` are the collection's stored vectors (all rows).

        Returns ``(rows (nq, k) int64, keys (nq, k))``, keys smaller-is-better, -1 / inf padded.
        """
        raise NotImplementedError

    # persistence -----------------------------------------------------------------------
    def save(self, directory: Path, stem: str) -> list[str]:
        """Write the index under ``directory``; return the file names written."""
        raise NotImplementedError

    def load(self, directory: Path, stem: str, ntotal: int) -> None:
        raise NotImplementedError


def int_param(params: dict, name: str, default: int, lo: int, hi: int, index_type: str) -> int:
    """An integer build/search parameter in ``[lo, hi]``; ParamError naming it otherwise."""
    value = params.get(name, default)
    if isinstance(value, bool):
        raise ParamError(f"{index_type}: {name} must be an integer, got {value!r}")
    try:
        ivalue = int(value)
    except (TypeError, ValueError):
        raise ParamError(f"{index_type}: {name} must be an integer, got {value!r}") from None
    if ivalue != float(value) or not lo <= ivalue <= hi:
        raise ParamError(f"{index_type}: {name} must be an integer in [{lo}, {hi}], got {value!r}")
    return ivalue


def float_param(params: dict, name: str, default: float, lo: float, hi: float, index_type: str,
                *, hi_open: bool = False) -> float:
    value = params.get(name, default)
    try:
        fvalue = float(value)
    except (TypeError, ValueError):
        raise ParamError(f"{index_type}: {name} must be a number, got {value!r}") from None
    if not (lo <= fvalue < hi if hi_open else lo <= fvalue <= hi):
        bracket = ")" if hi_open else "]"
        raise ParamError(f"{index_type}: {name} must be in [{lo}, {hi}{bracket}, got {value!r}")
    return fvalue


def write_atomic(path: Path, writer) -> None:
    """Write through a temporary file renamed over ``path``, so readers never see half a file."""
    tmp = path.with_name(path.name + ".tmp")
    writer(str(tmp))
    tmp.replace(path)


def save_npy(path: Path, array: np.ndarray) -> None:
    def _w(p: str) -> None:
        with open(p, "wb") as f:
            np.save(f, np.ascontiguousarray(array), allow_pickle=False)
    write_atomic(path, _w)


def load_npy(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)
