"""embedb.model.utils: optional imports fail with the extra to install (no torch needed)."""

from __future__ import annotations

import pytest

from embedb.errors import MissingDependencyError
from embedb.model.utils import import_optional


def test_missing_dependency_names_the_extra():
    with pytest.raises(MissingDependencyError, match=r'pip install "embedb\[openai\]"'):
        import_optional("surely_not_an_installed_module_xyz", "openai")
    # still an ImportError for code that catches the builtin
    with pytest.raises(ImportError):
        import_optional("surely_not_an_installed_module_xyz", "torch")


def test_missing_torch_is_reported_with_its_extra(monkeypatch):
    import sys

    import embedb.model.utils as utils

    monkeypatch.setitem(sys.modules, "torch", None)  # simulates torch not installed
    with pytest.raises(MissingDependencyError, match=r"embedb\[torch\]"):
        utils.import_torch()
    from embedb.model.sparse.splade import SpladeEmbeddingFunction

    with pytest.raises(MissingDependencyError, match=r"embedb\[torch\]"):
        SpladeEmbeddingFunction("anything")


def test_max_input_length_respects_the_position_table():
    from types import SimpleNamespace as NS

    from embedb.errors import ParamError
    from embedb.model.utils import max_input_length

    bert = NS(model_type="bert", max_position_embeddings=512)
    xlmr = NS(model_type="xlm-roberta", max_position_embeddings=8194, pad_token_id=1)
    assert max_input_length(NS(model_max_length=512), bert) == 512
    assert max_input_length(NS(model_max_length=int(1e30)), bert) == 512  # "no limit" sentinel
    assert max_input_length(NS(model_max_length=128), bert) == 128
    assert max_input_length(NS(model_max_length=8192), xlmr) == 8192  # RoBERTa offsets by pad+1
    assert max_input_length(NS(model_max_length=8192), xlmr, 100000) == 8192
    assert max_input_length(NS(model_max_length=512), bert, 64) == 64
    with pytest.raises(ParamError, match="max_length"):
        max_input_length(NS(model_max_length=512), bert, 1)


def test_rank_results_sorts_stably_and_cuts():
    from embedb.model.utils import rank_results

    docs = ["a", "b", "c", "d"]
    results = rank_results(docs, [0.5, 0.9, 0.5, 0.1], top_k=3)
    assert [(r.index, r.text, r.score) for r in results] == [(1, "b", 0.9), (0, "a", 0.5),
                                                              (2, "c", 0.5)]
    assert len(rank_results(docs, [1, 2, 3, 4], top_k=None)) == 4
    assert len(rank_results(docs, [1, 2, 3, 4], top_k=0)) == 4
