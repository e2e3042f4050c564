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

    Only a missing top-level package is reported as a missing dependency; an ImportError raised
    from inside an installed package (a broken install) propagates unchanged so its cause shows.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing and missing != module.split(".")[0]:
            # the package exists but one of *its* dependencies is missing: name that one
            raise missing_dependency(exc.name or module, extra) from exc
        raise missing_dependency(module, extra) from exc


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
