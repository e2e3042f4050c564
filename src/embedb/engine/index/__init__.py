"""Vector indexes: exact and faiss-backed dense indexes, binary and sparse indexes, and the
per-collection :class:`~embedb.engine.index.manager.IndexManager` (see ``indexes_of``)."""

from __future__ import annotations

from .manager import IndexManager, indexes_of

__all__ = ["IndexManager", "indexes_of"]
