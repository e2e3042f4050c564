"""Analyzers under the names of ``pymilvus.model.sparse.bm25.tokenizers``.

``build_default_analyzer(language)`` returns embedb's analyzer for that language (the same one
the engine's BM25 function uses). ``build_analyzer_from_yaml(path, name)`` reads a pymilvus
analyzer YAML file (``{name: {tokenizer: {class: ...}, filters: [{class: ..., params: ...}]}}``)
and builds the equivalent embedb analyzer. pymilvus's individual tokenizer and filter classes
(``StandardTokenizer``, ``StopwordFilter``...) are not provided: embedb analyzers are configured
with Milvus-style ``analyzer_params`` instead (see docs/text.md and docs/api.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from embedb.errors import ParamError
from embedb.text import Analyzer, build_analyzer, build_default_analyzer

# pymilvus tokenizer class -> embedb tokenizer name
_TOKENIZERS = {"StandardTokenizer": "standard", "JiebaTokenizer": "jieba"}


def _filter_spec(cls: str, params: dict, where: str) -> Any:
    if cls == "LowercaseFilter":
        return "lowercase"
    if cls == "PunctuationFilter":
        return "removepunct"
    if cls == "StopwordFilter":
        words = list(params.get("stopword_list") or [])
        language = params.get("language")
        if language:
            words.append(f"_{str(language).lower()}_")
        return {"type": "stop", "stop_words": words}
    if cls == "StemmingFilter":
        return {"type": "stemmer", "language": str(params.get("language", "english")).lower()}
    raise ParamError(f"{where}: filter class {cls!r} is not supported; supported: "
                     "LowercaseFilter, PunctuationFilter, StopwordFilter, StemmingFilter")


def build_analyzer_from_yaml(filepath: str, name: str) -> Analyzer:
    """The analyzer ``name`` of a pymilvus analyzer YAML file, built as an embedb analyzer."""
    try:
        import yaml
    except ModuleNotFoundError:
        from embedb.errors import MissingDependencyError

        raise MissingDependencyError("reading an analyzer YAML file needs PyYAML; install it "
                                     "with: pip install pyyaml") from None
    with Path(filepath).open(encoding="utf-8") as fh:
        config = yaml.safe_load(fh) or {}
    spec = config.get(name)
    if not spec:
        raise ParamError(f"no analyzer named {name!r} in {str(filepath)!r}")
    where = f"{filepath}: analyzer {name!r}"
    if spec.get("preprocessors"):
        raise ParamError(f"{where}: preprocessors are not supported by embedb analyzers")
    tok_cls = (spec.get("tokenizer") or {}).get("class", "StandardTokenizer")
    if tok_cls not in _TOKENIZERS:
        raise ParamError(f"{where}: tokenizer class {tok_cls!r} is not supported; supported: "
                         f"{sorted(_TOKENIZERS)}")
    filters = [_filter_spec(f.get("class", ""), f.get("params") or {}, where)
               for f in spec.get("filters") or []]
    return build_analyzer({"tokenizer": _TOKENIZERS[tok_cls], "filter": filters})


__all__ = ["Analyzer", "build_analyzer_from_yaml", "build_default_analyzer"]
