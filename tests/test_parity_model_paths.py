"""Every public module and name of ``pymilvus.model`` resolves under ``embedb.model``.

Walks pymilvus.model's modules (pymilvus-model is a test extra); a public name is one in the
module's ``__all__``, else a class or function defined in that module, or an UPPER_CASE
constant. The few left out are listed with the reason (also in docs/api.md).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

pm_model = pytest.importorskip("pymilvus.model")

# pymilvus.model names embedb leaves out on purpose, with the reason
NOT_PROVIDED = {
    # pymilvus pip-installs missing libraries at run time; embedb never does (DESIGN.md)
    "pymilvus.model.utils.dependency_control": "runtime pip install",
    # pymilvus's analyzer building blocks: embedb analyzers are built from Milvus-style
    # analyzer_params (build_analyzer) or a pymilvus analyzer YAML (build_analyzer_from_yaml)
    **{f"pymilvus.model.sparse.bm25.tokenizers.{n}": "analyzer_params instead" for n in (
        "register_class", "Preprocessor", "CharacterfilterPreprocessor", "ReplacePreprocessor",
        "StandardTokenizer", "TextFilter", "LowercaseFilter", "StopwordFilter",
        "PunctuationFilter", "StemmingFilter", "Tokenizer", "JiebaTokenizer", "MecabTokenizer",
        "KonlpyTokenizer", "KiwiTokenizer")},
}


def _modules() -> list[str]:
    out = [pm_model.__name__]
    for info in pkgutil.walk_packages(pm_model.__path__, pm_model.__name__ + "."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            out.append(info.name)
    return out


def _public_names(module) -> list[str]:
    if hasattr(module, "__all__"):
        return list(module.__all__)
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value):
            continue
        if inspect.isclass(value) or inspect.isfunction(value):
            if getattr(value, "__module__", None) == module.__name__:
                names.append(name)
        elif name.isupper():
            names.append(name)
    return names


def _importable(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:   # an optional dependency of pymilvus.model itself is missing
        return None


@pytest.mark.parametrize("module_name", _modules())
def test_module_and_names_resolve(module_name):
    if module_name in NOT_PROVIDED:
        pytest.skip(f"not provided: {NOT_PROVIDED[module_name]}")
    pm = _importable(module_name)
    if pm is None:
        pytest.skip(f"{module_name} does not import here")
    ours = importlib.import_module("embedb" + module_name[len("pymilvus"):])
    missing = [n for n in _public_names(pm)
               if f"{module_name}.{n}" not in NOT_PROVIDED and not hasattr(ours, n)]
    assert not missing, f"{ours.__name__} lacks {missing}"


def test_issue_examples():
    from embedb.model.sparse.bm25 import BM25EmbeddingFunction, build_default_analyzer
    from embedb.model.sparse.bm25.tokenizers import build_analyzer_from_yaml

    assert build_default_analyzer("en")("The foxes jumped") == ["fox", "jump"]
    assert BM25EmbeddingFunction.__module__ == "embedb.model.sparse.bm25.bm25"
    assert callable(build_analyzer_from_yaml)


def test_analyzer_yaml_matches_default(tmp_path):
    pytest.importorskip("yaml")
    from embedb.model.sparse.bm25 import build_analyzer_from_yaml, build_default_analyzer

    path = tmp_path / "lang.yaml"
    path.write_text(
        "en:\n  tokenizer: {class: StandardTokenizer, params: {}}\n  filters:\n"
        "    - {class: LowercaseFilter, params: {}}\n    - {class: PunctuationFilter, params: {}}\n"
        "    - {class: StopwordFilter, params: {language: english}}\n"
        "    - {class: StemmingFilter, params: {language: english}}\n", encoding="utf-8")
    text = "The quick brown foxes are jumping over the lazy dogs!"
    assert build_analyzer_from_yaml(path, "en")(text) == build_default_analyzer("en")(text)
    from embedb.errors import ParamError

    with pytest.raises(ParamError, match="no analyzer named 'xx'"):
        build_analyzer_from_yaml(path, "xx")


def test_stack_sparse_embeddings():
    import numpy as np
    import scipy.sparse as sp

    from embedb.model.sparse.utils import stack_sparse_embeddings

    rows = [sp.csr_array(np.array([[0, 1.5, 0]])), sp.csr_array(np.array([2.0, 0, 0]))]
    out = stack_sparse_embeddings(rows)
    assert out.shape == (2, 3) and out.dtype == np.float32
    assert out.toarray().tolist() == [[0, 1.5, 0], [2.0, 0, 0]]


def test_import_helpers_name_the_install():
    from embedb.errors import MissingDependencyError
    from embedb.model import utils

    assert utils.import_scipy().__name__ == "scipy"
    if importlib.util.find_spec("konlpy") is None:
        with pytest.raises(MissingDependencyError, match="pip install konlpy"):
            utils.import_konlpy()
