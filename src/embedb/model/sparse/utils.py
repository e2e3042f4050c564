"""Helpers at the import path of ``pymilvus.model.sparse.utils``."""

from __future__ import annotations

from typing import Iterable

import numpy as np
from scipy.sparse import csr_array, vstack


def stack_sparse_embeddings(sparse_embs: Iterable) -> csr_array:
    """Stack one-row (or 1-D) sparse embeddings into one ``csr_array`` of float32 rows."""
    rows = [csr_array(e).reshape((1, -1)) for e in sparse_embs]
    return csr_array(vstack(rows), dtype=np.float32)


__all__ = ["stack_sparse_embeddings"]
