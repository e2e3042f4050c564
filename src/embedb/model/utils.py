"""Helpers shared by the model classes: optional imports that fail with the extra to install.

Nothing here is ever pip-installed at run time (pymilvus.model does that behind the user's
back); a missing optional library raises :class:`embedb.errors.MissingDependencyError`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Dict, Optional

from embedb.errors import missing_dependency

__all__ = ["import_optional", "lazy_getattr"]


def import_optional(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ``MissingDependencyError`` naming ``pip install "embedb[extra]"``.

    The error names the module that is actually missing: ``module`` itself, or a dependency of
    it (``sentence_transformers`` installed without ``torch`` names ``torch``). Other ImportErrors
    (a broken install) propagate unchanged so their cause shows.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise missing_dependency(exc.name or module, extra) from exc


def lazy_getattr(
    package: str, name: str, exports: Dict[str, str], namespace: Dict[str, Any]
) -> Any:
    """Module ``__getattr__`` body: resolve ``name`` from ``exports`` (name -> relative module)
    on first use, cache it in ``namespace`` and return it."""
    module: Optional[str] = exports.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, package), name)
    namespace[name] = value
    return value


# -- helpers for the torch-based classes (torch and transformers are imported on call) -----------

def import_torch() -> ModuleType:
    return import_optional("torch", "torch")


def import_transformers() -> ModuleType:
    import_torch()  # transformers without torch cannot run these models: name the torch extra
    return import_optional("transformers", "torch")


# pymilvus.model.utils's import_<library>() names: each imports its library or raises
# MissingDependencyError naming what to install (pymilvus's own versions pip-install it).
# name -> (module, embedb extra, or None with the PyPI package to name)
_IMPORTERS: Dict[str, tuple] = {
    "import_google": ("google.genai", None, "google-genai"),
    "import_openai": ("openai", "openai", None),
    "import_sentence_transformers": ("sentence_transformers", "sentence-transformers", None),
    "import_FlagEmbedding": ("FlagEmbedding", None, "FlagEmbedding"),
    "import_nltk": ("nltk", None, "nltk"),
    "import_jieba": ("jieba", "zh", None),
    "import_konlpy": ("konlpy", None, "konlpy"),
    "import_kiwi": ("kiwipiepy", None, "kiwipiepy"),
    "import_mecab": ("MeCab", None, "mecab-python3"),
    "import_scipy": ("scipy", None, "scipy"),
    "import_protobuf": ("google.protobuf", None, "protobuf"),
    "import_unidic_lite": ("unidic_lite", None, "unidic-lite"),
    "import_cohere": ("cohere", None, "cohere"),
    "import_voyageai": ("voyageai", None, "voyageai"),
    "import_huggingface_hub": ("huggingface_hub", None, "huggingface_hub"),
    "import_mistralai": ("mistralai", None, "mistralai"),
    "import_nomic": ("nomic", None, "nomic"),
    "import_instructor": ("InstructorEmbedding", None, "InstructorEmbedding"),
    "import_datasets": ("datasets", None, "datasets"),
    "import_model2vec": ("model2vec", "model2vec", None),
}


def _make_importer(name: str, module: str, extra: Optional[str], package: Optional[str]):
    def importer() -> ModuleType:
        if extra is not None:
            return import_optional(module, extra)
        try:
            return importlib.import_module(module)
        except ModuleNotFoundError as exc:
            from embedb.errors import MissingDependencyError

            raise MissingDependencyError(
                f"{module!r} is required for this feature but is not installed; install it "
                f"with: pip install {package}") from exc
    importer.__name__ = importer.__qualname__ = name
    importer.__doc__ = f"Import {module!r}, or raise MissingDependencyError naming the install."
    return importer


for _name, (_module, _extra, _package) in _IMPORTERS.items():
    globals()[_name] = _make_importer(_name, _module, _extra, _package)
del _name, _module, _extra, _package


def resolve_device(device: Optional[str]) -> str:
    """``None``/``""`` -> the best available device (cuda, then mps, then cpu)."""
    if device:
        return str(device)
    torch = import_torch()
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def is_local_folder(name: Any) -> bool:
    import os

    return isinstance(name, (str, os.PathLike)) and os.path.isdir(os.path.expanduser(str(name)))


def from_pretrained(cls: Any, name: Any, **kwargs: Any) -> Any:
    """``cls.from_pretrained(name)`` that never downloads unless asked: a hub id is looked up in
    the local Hugging Face cache only (``local_files_only=True`` unless the caller says False)."""
    import os

    if is_local_folder(name):
        name = os.path.expanduser(str(name))
    kwargs.setdefault("local_files_only", True)
    try:
        return cls.from_pretrained(name, **kwargs)
    except OSError as exc:
        if is_local_folder(name) or not kwargs["local_files_only"]:
            raise
        raise not_found_locally(name) from exc


def not_found_locally(name: Any) -> Exception:
    from embedb.errors import ParamError

    return ParamError(
        f"model {str(name)!r} is neither a local folder nor in the local Hugging Face cache; "
        "embedb downloads nothing by default: pass the path of a local copy, or "
        "local_files_only=False to allow a download"
    )


def check_texts(texts: Any, what: str = "texts") -> list:
    """A list of str, or a ParamError naming what is wrong (shared by the local and HTTP models)."""
    from embedb.errors import ParamError

    if isinstance(texts, (str, bytes)):
        raise ParamError(
            f"{what} must be a list of strings, got a single {type(texts).__name__}; wrap it in a list "
            "(a single string would be embedded character by character)"
        )
    try:
        texts = list(texts)
    except TypeError:
        raise ParamError(f"{what} must be a list of strings, got {type(texts).__name__}") from None
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ParamError(f"{what}[{i}] must be a string, got {type(text).__name__}")
    return texts


def progress_iter(iterable: Any, total: int, show: Optional[bool], desc: str, min_steps: int = 10,
                  manual: bool = False):
    """Wrap ``iterable`` in a tqdm bar when ``show`` is True, or when None and ``total`` (steps)
    exceeds ``min_steps``. With ``manual=True`` return the bar itself (``update``/``close``), or
    None when no bar is wanted."""
    if not (show if show is not None else total > min_steps):
        return None if manual else iterable
    from tqdm.auto import tqdm

    if manual:
        return tqdm(total=total, desc=desc, unit="batch")
    return tqdm(iterable, total=total, desc=desc, unit="batch")


def length_sorted_batches(texts: list, batch_size: int) -> list:
    """Index batches over ``texts``, longest first, so each batch pads little. Callers scatter
    results back by these indices."""
    import numpy as np

    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        from embedb.errors import ParamError

        raise ParamError(f"batch_size must be a positive int, got {batch_size!r}")
    lengths = np.fromiter((len(t) for t in texts), np.int64, len(texts))
    order = np.argsort(-lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def stack_in_input_order(batch_rows: list, batches: list, n_cols: int) -> Any:
    """The sparse rows of each batch from :func:`length_sorted_batches`, stacked back into the
    order of the input texts, as one float32 ``csr_array`` (``(0, n_cols)`` when empty)."""
    import numpy as np
    from scipy.sparse import csr_array, vstack

    if not batches:
        return csr_array((0, n_cols), dtype=np.float32)
    order = np.concatenate(batches)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return csr_array(vstack(batch_rows, format="csr")[inverse], dtype=np.float32)


def max_input_length(tokenizer: Any, config: Any, requested: Optional[int] = None) -> int:
    """The truncation length: ``requested`` if given, else the tokenizer's ``model_max_length``,
    never more than the model's position table allows."""
    from embedb.errors import ParamError

    positions = getattr(config, "max_position_embeddings", None) or 512
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        positions -= (getattr(config, "pad_token_id", 1) or 1) + 1  # RoBERTa offsets positions
    limit = positions
    tok_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < 1_000_000:
        limit = min(limit, tok_max)
    if requested is None:
        return int(limit)
    if not isinstance(requested, int) or isinstance(requested, bool) or requested < 2:
        raise ParamError(f"max_length must be an int >= 2, got {requested!r}")
    return int(min(requested, positions))


def check_rerank_args(query: Any, documents: Any, top_k: Any) -> list:
    """Validate a reranker call; returns the documents as a list of str."""
    from embedb.errors import ParamError

    if not isinstance(query, str):
        raise ParamError(f"query must be a str, got {type(query).__name__}")
    documents = check_texts(documents, "documents")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 0):
        raise ParamError(f"top_k must be None or an int >= 0 (0 or None: all), got {top_k!r}")
    return documents


def rank_results(documents: list, scores: Any, top_k: Optional[int]) -> list:
    """``RerankResult`` list sorted by score, best first (ties keep input order), cut to
    ``top_k`` (``None`` or 0 keeps all)."""
    import numpy as np

    from embedb.model.base import RerankResult

    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    if top_k:
        order = order[:top_k]
    return [RerankResult(documents[i], float(scores[i]), int(i)) for i in order]


def resolve_folder(model_name: Any, local_files_only: bool = True) -> str:
    """A local folder for ``model_name``: the path itself, or the Hugging Face cache's snapshot
    of a hub id. Nothing is downloaded unless ``local_files_only=False``."""
    import os

    if is_local_folder(model_name):
        return os.path.expanduser(str(model_name))
    hub = import_optional("huggingface_hub", "torch")
    try:
        return hub.snapshot_download(str(model_name), local_files_only=local_files_only)
    except Exception as exc:  # LocalEntryNotFoundError, HFValidationError for odd ids...
        if not local_files_only:
            raise
        raise not_found_locally(model_name) from exc
