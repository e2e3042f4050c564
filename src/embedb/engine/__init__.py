"""The embedded storage engine: databases, collections, columns, the write log and snapshots.

Public entry point: :class:`Database` (see docs/dev/engine-api.md for the contract and
docs/storage.md for the on-disk format).
"""

from __future__ import annotations

from .collection import Collection
from .database import Database

__all__ = ["Database", "Collection"]
