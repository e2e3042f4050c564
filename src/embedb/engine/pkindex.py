"""Primary key -> live row number, kept as a sorted key array with aligned row numbers.

Two levels, so that a write costs O(batch + delta), not O(rows): a large *main* level of live
keys, and a small sorted *delta* of keys set or removed since (a removed key's row is -1); the
delta wins over main. Lookups are one ``searchsorted`` per level for a whole batch of keys. The
delta is merged into main (one pass, O(rows)) when it passes 1/16 of main, and for
``sorted_rows`` (an ordered query reads every row anyway). Building from a column (at open, after
compaction) is one argsort. Every change replaces arrays instead of writing into them, so a
frozen twin (a read view's) never changes. Works for int64 keys and for VARCHAR keys; string keys are held as an object
array of ``str`` because ``np.searchsorted`` on ``StringDType`` gives wrong positions for
strings longer than 15 bytes in NumPy 2.4 (numpy/numpy#31533).
"""

from __future__ import annotations

import numpy as np


class PKIndex:
    MERGE_MIN = 8192  # delta entries below which it is never merged (tests lower it)

    def __init__(self, dtype: np.dtype):
        dtype = np.dtype(dtype)
        self.dtype = np.dtype(object) if dtype.kind in "TUO" else dtype
        self.keys = np.empty(0, dtype=self.dtype)   # main level: live keys, sorted
        self.rows = np.empty(0, dtype=np.int64)
        self._dkeys = self.keys                     # delta level: sorted; row -1 = removed
        self._drows = self.rows
        self._live = 0

    def __len__(self) -> int:
        return self._live

    @classmethod
    def build(cls, pk_values: np.ndarray, live: np.ndarray) -> "PKIndex":
        """Index the live rows of a primary-key column (keys of live rows are unique)."""
        index = cls(pk_values.dtype)
        rows = np.flatnonzero(live)
        keys = pk_values[rows]
        if keys.dtype.kind == "T":
            from ..expr.strings import has_nul

            text = keys.astype(object)
            # StringDType sorts with strncmp, wrong around NUL characters (expr/strings.py):
            # then sort the str objects (2.4x slower, so only then)
            order = np.argsort(text if has_nul(text) else keys, kind="stable")
            keys = text
        else:
            order = np.argsort(keys, kind="stable")
        index.keys = keys[order].astype(index.dtype, copy=False)
        index.rows = rows[order].astype(np.int64, copy=False)
        index._live = len(index.keys)
        return index

    @staticmethod
    def _positions(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.searchsorted(sorted_keys, keys)
        found = pos < len(sorted_keys)
        found[found] = sorted_keys[pos[found]] == keys[found]
        return pos, found

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Row number of each key, -1 where the key is not live."""
        keys = np.asarray(keys, dtype=self.dtype)
        out = np.full(len(keys), -1, dtype=np.int64)
        if not len(keys):
            return out
        if len(self.keys):
            pos, found = self._positions(self.keys, keys)
            out[found] = self.rows[pos[found]]
        if len(self._dkeys):
            pos, found = self._positions(self._dkeys, keys)
            out[found] = self._drows[pos[found]]
        return out

    def set(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Map each key (unique within the call) to its row, replacing earlier rows."""
        keys = np.asarray(keys, dtype=self.dtype)
        rows = np.asarray(rows, dtype=np.int64)
        if not len(keys):
            return
        self._live += int(np.count_nonzero(self.lookup(keys) < 0))
        self._put(keys, rows)

    def remove(self, keys: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=self.dtype)
        if not len(keys) or not self._live:
            return
        keys = np.unique(keys)
        live = self.lookup(keys) >= 0
        if live.any():
            self._live -= int(np.count_nonzero(live))
            self._put(keys[live], np.full(int(np.count_nonzero(live)), -1, dtype=np.int64))

    def _put(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Write (key, row) pairs into the delta (new arrays; O(batch + delta))."""
        if len(self._dkeys):
            pos, found = self._positions(self._dkeys, keys)
            if found.any():
                self._drows = self._drows.copy()
                self._drows[pos[found]] = rows[found]
                keys, rows = keys[~found], rows[~found]
        if len(keys):
            order = np.argsort(keys, kind="stable")
            keys, rows = keys[order], rows[order]
            at = np.searchsorted(self._dkeys, keys)
            self._dkeys = np.insert(self._dkeys, at, keys)
            self._drows = np.insert(self._drows, at, rows)
        if len(self._dkeys) > max(self.MERGE_MIN, len(self.keys) >> 4):
            self._merge()

    def _merge(self) -> None:
        """Fold the delta into main (one pass over main)."""
        if not len(self._dkeys):
            return
        dkeys, drows = self._dkeys, self._drows
        keys, rows = self.keys, self.rows
        if len(keys):
            pos, found = self._positions(keys, dkeys)
            if found.any():   # keys the delta sets again or removes leave main
                keep = np.ones(len(keys), dtype=bool)
                keep[pos[found]] = False
                keys, rows = keys[keep], rows[keep]
        add = drows >= 0
        at = np.searchsorted(keys, dkeys[add])
        self.keys = np.insert(keys, at, dkeys[add])
        self.rows = np.insert(rows, at, drows[add])
        self._dkeys = np.empty(0, dtype=self.dtype)
        self._drows = np.empty(0, dtype=np.int64)

    def frozen(self) -> "PKIndex":
        """An index sharing this one's arrays as they are now, both levels: O(1), so taking a
        read view stays cheap right after a write. Every change replaces arrays, so the copy
        never changes (a twin that merges for ``sorted_rows`` replaces only its own)."""
        twin = PKIndex.__new__(PKIndex)
        twin.dtype, twin.keys, twin.rows, twin._live = self.dtype, self.keys, self.rows, self._live
        twin._dkeys, twin._drows = self._dkeys, self._drows
        return twin

    def sorted_rows(self) -> np.ndarray:
        """Live row numbers in ascending primary-key order."""
        self._merge()
        return self.rows
