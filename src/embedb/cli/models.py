"""Model names on the command line -> ``embedb.model`` objects, imported only when a command needs
them (``embedb --help`` never loads a model)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ParamError

DEFAULT_MODEL = "default"
_DEFAULT_ALIASES = {"default", "minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def load_embedding(spec: str | None):
    """``default`` (all-MiniLM-L6-v2, offline) or the path of a local sentence-transformers model."""
    from embedb import model

    spec = spec or DEFAULT_MODEL
    if spec.lower() in _DEFAULT_ALIASES:
        with _loading("the embedding model"):
            return model.DefaultEmbeddingFunction()
    if Path(spec).expanduser().is_dir():
        with _loading(f"embedding model {spec}"):
            return model.dense.SentenceTransformerEmbeddingFunction(model_name=str(Path(spec).expanduser()))
    raise ParamError(f"unknown model {spec!r}: use 'default' (all-MiniLM-L6-v2, built in) or the "
                     "folder of a local sentence-transformers model")


def load_reranker(spec: str):
    """The folder of a local cross-encoder (``CrossEncoderRerankFunction``), or ``bge:FOLDER`` for a
    BGE reranker (``BGERerankFunction``)."""
    from embedb import model

    kind, _, path = spec.partition(":") if spec.startswith("bge:") else ("", "", spec)
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ParamError(f"reranker model not found: {spec!r} (give the folder of a local "
                         "cross-encoder model, or bge:FOLDER for a BGE reranker)")
    with _loading(f"reranker {spec}"):
        if kind == "bge":
            return model.reranker.BGERerankFunction(model_name=str(folder))
        return model.reranker.CrossEncoderRerankFunction(model_name=str(folder))


def _loading(what: str):
    """A spinner on stderr while a model loads (shown on terminals only)."""
    from .output import stderr_console

    return stderr_console().status(f"loading {what}…")


def embed(texts: list[str], encode: Callable[[list[str]], object], batch_size: int = 64,
          advance: Callable[[int], None] | None = None) -> np.ndarray:
    """Embed ``texts`` in batches (so a progress bar can move) into one float32 matrix, rows in
    the order of ``texts``. Batches hold texts of similar length, so less padding is computed."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    parts = []
    for start in range(0, len(texts), batch_size):
        batch = [texts[i] for i in order[start:start + batch_size]]
        parts.append(np.asarray(encode(batch), dtype=np.float32).reshape(len(batch), -1))
        if advance is not None:
            advance(len(batch))
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
    out[order] = np.concatenate(parts)
    return out
