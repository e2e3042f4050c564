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
