"""Schema functions that run models (``FunctionType.TEXTEMBEDDING``) and model rankers
(``FunctionType.RERANK`` with ``"reranker": "model"``), over ``embedb.model``.

The engine calls them through :mod:`embedb.engine.model_functions`; :func:`install` (called
by ``MilvusClient`` when it opens a local database) plugs this package in. Importing it is
cheap: models load on first use, once per process.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_installed = False


class _Runner:
    """The four calls the engine makes (see embedb.engine.model_functions.Runner)."""

    def identity(self, fn: Any) -> dict:
        from .embedding import identity

        return identity(fn)

    def dim(self, fn: Any) -> int:
        from .embedding import dim

        return dim(fn)

    def embed_documents(self, fn: Any, texts: list[str]) -> np.ndarray:
        from .embedding import embed_documents

        return embed_documents(fn, texts)

    def embed_queries(self, fn: Any, texts: list[str]) -> np.ndarray:
        from .embedding import embed_queries

        return embed_queries(fn, texts)

    def rerank_scores(self, params: dict, query: str, texts: list[str]) -> np.ndarray:
        from .rerank import rerank_scores

        return rerank_scores(params, query, texts)


def install() -> None:
    """Plug the TEXTEMBEDDING runner into the engine (idempotent)."""
    global _installed
    if _installed:
        return
    from ..engine import model_functions

    model_functions.install(_Runner())
    _installed = True
