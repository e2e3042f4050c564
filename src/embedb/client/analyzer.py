"""``MilvusClient.run_analyzer``: show the tokens an analyzer produces (pymilvus result shapes)."""

from __future__ import annotations

from typing import Any

from ..errors import ParamError


class AnalyzeToken:
    """One token with details (``with_detail``) and/or its BM25 hash (``with_hash``)."""

    __slots__ = ("dict",)

    def __init__(self, values: dict[str, Any]) -> None:
        self.dict = values

    token = property(lambda self: self.dict["token"])
    start_offset = property(lambda self: self.dict["start_offset"])
    end_offset = property(lambda self: self.dict["end_offset"])
    position = property(lambda self: self.dict["position"])
    position_length = property(lambda self: self.dict["position_length"])
    hash = property(lambda self: self.dict["hash"])

    def __getitem__(self, key: str) -> Any:
        return self.dict[key]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnalyzeToken) and self.dict == other.dict

    def __str__(self) -> str:
        return str(self.dict)

    __repr__ = __str__


class AnalyzeResult:
    """The tokens of one text: ``list[str]``, or ``list[AnalyzeToken]`` with hash/detail."""

    __slots__ = ("tokens",)

    def __init__(self, tokens: list) -> None:
        self.tokens = tokens

    def __str__(self) -> str:
        return str(self.tokens)

    __repr__ = __str__


class AnalyzerMixin:
    """Mixed into MilvusClient; needs ``self._collection(name)`` from ClientBase."""

    def run_analyzer(
        self,
        texts: str | list[str],
        analyzer_params: dict | str | None = None,
        with_hash: bool = False,
        with_detail: bool = False,
        collection_name: str | None = None,
        field_name: str | None = None,
        analyzer_names: str | list[str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> AnalyzeResult | list[AnalyzeResult]:
        """Analyse ``texts`` with ``analyzer_params`` (Milvus shape; None = the standard
        analyzer), or with the analyzer of ``collection_name``/``field_name`` (``analyzer_names``
        picks analyzers of a multi-language field: one name for all texts or one per text).

        >>> client.run_analyzer("The Foxes ran", {"type": "english"}).tokens
        ['fox', 'ran']
        """
        from ..engine.fulltext import field_analyzers, token_hash
        from ..text import build_analyzer

        single = isinstance(texts, str)
        items = [texts] if single else texts
        if not isinstance(items, (list, tuple)) or not all(isinstance(t, str) for t in items):
            raise ParamError("run_analyzer: texts must be a string or a list of strings")
        if collection_name is not None or field_name is not None:
            if collection_name is None or field_name is None:
                raise ParamError("run_analyzer: give both collection_name and field_name, or neither")
            if analyzer_params is not None:
                raise ParamError("run_analyzer: give analyzer_params or a collection field, not both")
            coll = self._collection(collection_name)  # type: ignore[attr-defined]
            field = coll.schema.field(field_name)
            if field is None or not field.params.get("enable_analyzer"):
                raise ParamError(f"run_analyzer: field {field_name!r} of collection {collection_name!r} "
                                 "is not a VARCHAR field with enable_analyzer=True")
            fa = field_analyzers(coll, field_name)
            if analyzer_names is None or isinstance(analyzer_names, str):
                names = [analyzer_names] * len(items)
            else:
                names = list(analyzer_names)
                if len(names) != len(items):
                    raise ParamError(f"run_analyzer: {len(names)} analyzer_names for {len(items)} texts")
            analyzers = [fa.get(n, strict=True) for n in names]
        else:
            if analyzer_names is not None:
                raise ParamError("run_analyzer: analyzer_names needs collection_name and field_name")
            analyzers = [build_analyzer(analyzer_params)] * len(items)

        results = []
        for analyzer, text in zip(analyzers, items):
            if not with_hash and not with_detail:
                results.append(AnalyzeResult(analyzer(text)))
                continue
            tokens = []
            for d in analyzer.analyze_detail(text):
                values = dict(d) if with_detail else {"token": d["token"]}
                if with_hash:
                    values["hash"] = token_hash(d["token"])
                tokens.append(AnalyzeToken(values))
            results.append(AnalyzeResult(tokens))
        return results[0] if single else results
