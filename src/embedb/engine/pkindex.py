"""Primary key -> live row number, kept as a sorted key array with aligned row numbers.

Lookups are one ``searchsorted`` for a whole batch of keys; inserting a batch merges its
sorted keys in with one ``np.insert``. Building from a column (at open, after compaction) is
one argsort. Works for int64 keys and for VARCHAR keys; string keys are held as an object
array of ``str`` because ``np.searchsorted`` on ``StringDType`` gives wrong positions for
strings longer than 15 bytes in NumPy 2.4 (numpy/numpy#31533).
"""

from __future__ import annotations

import numpy as np


class PKIndex:
    def __init__(self, dtype: np.dtype):
        dtype = np.dtype(dtype)
        self.dtype = np.dtype(object) if dtype.kind in "TUO" else dtype
        self.keys = np.empty(0, dtype=self.dtype)
        self.rows = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def build(cls, pk_values: np.ndarray, live: np.ndarray) -> "PKIndex":
        """Index the live rows of a primary-key column (keys of live rows are unique)."""
        index = cls(pk_values.dtype)
        rows = np.flatnonzero(live)
        keys = pk_values[rows]
        order = np.argsort(keys, kind="stable")
        index.keys = keys[order].astype(index.dtype, copy=False)
        index.rows = rows[order].astype(np.int64, copy=False)
        return index

    def _positions(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.searchsorted(self.keys, keys)
        found = pos < len(self.keys)
        found[found] = self.keys[pos[found]] == keys[found]
        return pos, found

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Row number of each key, -1 where the key is not live."""
        keys = np.asarray(keys, dtype=self.dtype)
        out = np.full(len(keys), -1, dtype=np.int64)
        if len(self.keys) and len(keys):
            pos, found = self._positions(keys)
            out[found] = self.rows[pos[found]]
        return out

    def set(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Map each key (unique within the call) to its row, replacing earlier rows."""
        keys = np.asarray(keys, dtype=self.dtype)
        rows = np.asarray(rows, dtype=np.int64)
        if not len(keys):
            return
        if len(self.keys):
            pos, found = self._positions(keys)
            if found.any():  # copy on write: read views share these arrays without the lock
                self.rows = self.rows.copy()
                self.rows[pos[found]] = rows[found]
            keys, rows = keys[~found], rows[~found]
            if not len(keys):
                return
        order = np.argsort(keys, kind="stable")
        keys, rows = keys[order], rows[order]
        at = np.searchsorted(self.keys, keys)
        self.keys = np.insert(self.keys, at, keys)
        self.rows = np.insert(self.rows, at, rows)

    def remove(self, keys: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=self.dtype)
        if not len(self.keys) or not len(keys):
            return
        pos, found = self._positions(keys)
        if found.any():
            drop = np.unique(pos[found])
            self.keys = np.delete(self.keys, drop)
            self.rows = np.delete(self.rows, drop)

    def frozen(self) -> "PKIndex":
        """An index sharing this one's arrays as they are now. Every change replaces the
        arrays instead of writing into them, so the copy never changes (read views use it)."""
        twin = PKIndex.__new__(PKIndex)
        twin.dtype, twin.keys, twin.rows = self.dtype, self.keys, self.rows
        return twin

    def sorted_rows(self) -> np.ndarray:
        """Live row numbers in ascending primary-key order."""
        return self.rows
