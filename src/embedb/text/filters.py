"""Token filters with Milvus's names and options.

A filter maps a list of tokens to a list of the same length whose items are the new token
(``str``), ``None`` to drop the token, or a ``tuple`` of tokens (the decompounder splits one
token into several that share its position). Filters see each distinct token once: the analyzer
memoises the whole chain per raw token, so a filter may be written per token.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Callable, Iterable

from ..errors import ParamError
from .languages import stemmer_name
from .languages import stop_words as language_stop_words

class LowercaseFilter:
    name = "lowercase"
    kind = "map"  # one output per token, never dropped

    def apply(self, tokens: list[str]) -> list:
        return [t.lower() for t in tokens]

    def to_params(self) -> Any:
        return self.name


# Letters that NFKD does not decompose into ASCII + combining marks.
_FOLD_SPECIAL = str.maketrans(
    {
        "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
        "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "TH",
        "ı": "i", "ŧ": "t", "Ŧ": "T", "ħ": "h", "Ħ": "H", "ŋ": "n", "Ŋ": "N", "ĸ": "q",
    }
)


class AsciiFoldingFilter:
    """Folds Latin letters with diacritics to ASCII: ``"Café"`` -> ``"Cafe"``, ``"straße"`` ->
    ``"strasse"``. Characters without an ASCII form are kept."""

    name = "asciifolding"
    kind = "map"

    def apply(self, tokens: list[str]) -> list:
        out = []
        for t in tokens:
            if t.isascii():
                out.append(t)
                continue
            decomposed = unicodedata.normalize("NFKD", t.translate(_FOLD_SPECIAL))
            out.append("".join(c for c in decomposed if not unicodedata.combining(c)))
        return out

    def to_params(self) -> Any:
        return self.name


class _KeepIf:
    """Keeps tokens that fully match a pattern; drops the rest."""

    name = ""
    pattern: re.Pattern
    kind = "drop"  # the token or None

    def apply(self, tokens: list[str]) -> list:
        match = self.pattern.fullmatch
        return [t if match(t) else None for t in tokens]

    def to_params(self) -> Any:
        return self.name


class AlphaNumOnlyFilter(_KeepIf):
    """Keeps tokens made only of ASCII letters and digits."""

    name = "alphanumonly"
    pattern = re.compile(r"[A-Za-z0-9]+")


class CnAlphaNumOnlyFilter(_KeepIf):
    """Keeps tokens made only of Chinese characters, ASCII letters and digits."""

    name = "cnalphanumonly"
    pattern = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]+")


class CnCharOnlyFilter(_KeepIf):
    """Keeps tokens made only of Chinese characters."""

    name = "cncharonly"
    pattern = re.compile(r"[\u4e00-\u9fff]+")


class RemovePunctFilter:
    """Drops tokens made only of punctuation and symbols (useful after ``whitespace``)."""

    name = "removepunct"
    kind = "drop"  # the token or None
    _word = re.compile(r"[^\W_]")

    def apply(self, tokens: list[str]) -> list:
        search = self._word.search
        return [t if search(t) else None for t in tokens]

    def to_params(self) -> Any:
        return self.name


class RegexFilter:
    """``{"type": "regex", "expr": "^[a-z]+$"}``: keeps tokens in which ``expr`` matches."""

    name = "regex"
    kind = "drop"  # the token or None

    def __init__(self, expr: str) -> None:
        if not isinstance(expr, str):
            raise ParamError("regex filter: 'expr' must be a string")
        try:
            self.expr = re.compile(expr)
        except re.error as exc:
            raise ParamError(f"regex filter: invalid expr {expr!r}: {exc}") from None

    def apply(self, tokens: list[str]) -> list:
        search = self.expr.search
        return [t if search(t) else None for t in tokens]

    def to_params(self) -> Any:
        return {"type": "regex", "expr": self.expr.pattern}


class LengthFilter:
    """``{"type": "length", "max": 10}`` drops tokens longer than ``max`` characters
    (``min`` drops shorter ones)."""

    name = "length"
    kind = "drop"  # the token or None

    def __init__(self, max: int | None = None, min: int | None = None) -> None:
        for key, value in (("max", max), ("min", min)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ParamError(f"length filter: {key!r} must be a non-negative integer, got {value!r}")
        if max is None and min is None:
            raise ParamError("length filter needs 'max' (and/or 'min')")
        self.max, self.min = max, min

    def apply(self, tokens: list[str]) -> list:
        lo = self.min or 0
        hi = self.max if self.max is not None else float("inf")
        return [t if lo <= len(t) <= hi else None for t in tokens]

    def to_params(self) -> Any:
        params: dict[str, Any] = {"type": "length"}
        if self.max is not None:
            params["max"] = self.max
        if self.min is not None:
            params["min"] = self.min
        return params


class StopFilter:
    """``{"type": "stop", "stop_words": ["_english_", "foo"]}``: drops listed words. Entries
    written ``_language_`` (``_english_``, ``_german_``...) expand to the shipped list."""

    name = "stop"
    kind = "drop"  # the token or None

    def __init__(self, stop_words: Iterable[str] | None = None) -> None:
        if isinstance(stop_words, str) or stop_words is None:
            stop_words = [stop_words] if stop_words else []
        words: set[str] = set()
        self.entries: list[str] = []
        for entry in stop_words:
            if not isinstance(entry, str):
                raise ParamError(f"stop filter: stop_words must be strings, got {entry!r}")
            self.entries.append(entry)
            if len(entry) > 2 and entry.startswith("_") and entry.endswith("_"):
                words |= language_stop_words(entry)
            else:
                words.add(entry)
        self.words = frozenset(words)

    def apply(self, tokens: list[str]) -> list:
        words = self.words
        return [None if t in words else t for t in tokens]

    def to_params(self) -> Any:
        return {"type": "stop", "stop_words": list(self.entries)}


class StemmerFilter:
    """``{"type": "stemmer", "language": "english"}``: Snowball stemming via PyStemmer.
    ISO codes (``"en"``) and names (``"english"``) both work."""

    name = "stemmer"
    kind = "map"

    def __init__(self, language: str = "english") -> None:
        import Stemmer  # PyStemmer: a core dependency, C speed

        self.language = stemmer_name(language)
        # No PyStemmer cache: analyzers already run each distinct word through the filters
        # once, and its 10,000-entry cache only costs time (3x) on larger vocabularies.
        self._stemmer = Stemmer.Stemmer(self.language, 0)

    def apply(self, tokens: list[str]) -> list:
        return self._stemmer.stemWords(tokens)

    def to_params(self) -> Any:
        return {"type": "stemmer", "language": self.language}


class DecompounderFilter:
    """``{"type": "decompounder", "word_list": ["dampf", "schiff"]}``: splits a token that is a
    concatenation of listed words into those words (``"dampfschiff"`` -> ``"dampf"``,
    ``"schiff"``); a token that cannot be split completely is kept as it is."""

    name = "decompounder"
    kind = "expand"  # may return tuples

    def __init__(self, word_list: list[str]) -> None:
        if not isinstance(word_list, list) or not word_list or not all(isinstance(w, str) and w for w in word_list):
            raise ParamError("decompounder filter: 'word_list' must be a non-empty list of words")
        self.word_list = list(word_list)
        self._words = frozenset(word_list)
        self._max_len = max(map(len, word_list))

    def _split(self, token: str) -> tuple[str, ...] | None:
        # Longest-first depth-first search; compounds are short, so this stays cheap.
        if not token:
            return ()
        for size in range(min(len(token), self._max_len), 0, -1):
            head = token[:size]
            if head in self._words:
                rest = self._split(token[size:])
                if rest is not None:
                    return (head,) + rest
        return None

    def apply(self, tokens: list[str]) -> list:
        out = []
        for t in tokens:
            parts = self._split(t)
            out.append(parts if parts is not None and len(parts) > 1 else t)
        return out

    def to_params(self) -> Any:
        return {"type": "decompounder", "word_list": list(self.word_list)}


_FILTERS: dict[str, Callable[..., Any]] = {
    "lowercase": LowercaseFilter,
    "asciifolding": AsciiFoldingFilter,
    "alphanumonly": AlphaNumOnlyFilter,
    "cnalphanumonly": CnAlphaNumOnlyFilter,
    "cncharonly": CnCharOnlyFilter,
    "removepunct": RemovePunctFilter,
    "regex": RegexFilter,
    "length": LengthFilter,
    "stop": StopFilter,
    "stemmer": StemmerFilter,
    "decompounder": DecompounderFilter,
}

# Filters that need options and so cannot be named by a bare string.
_NEEDS_OPTIONS = {"regex", "length", "decompounder"}


def build_filter(spec: Any) -> Any:
    """A filter from a name (``"lowercase"``) or a ``{"type": name, ...options}`` dict."""
    if isinstance(spec, str):
        kind, options = spec.lower(), {}
        if kind in _NEEDS_OPTIONS:
            raise ParamError(f"filter {spec!r} needs options: write it as {{'type': {spec!r}, ...}}")
    elif isinstance(spec, dict):
        options = dict(spec)
        kind = options.pop("type", None)
        if not isinstance(kind, str):
            raise ParamError(f"filter {spec!r} needs a 'type'")
        kind = kind.lower()
    else:
        raise ParamError(f"a filter must be a name or a dict, got {spec!r}")
    factory = _FILTERS.get(kind)
    if factory is None:
        raise ParamError(f"unknown filter type {kind!r}; valid types: {', '.join(sorted(_FILTERS))}")
    try:
        return factory(**options)
    except TypeError as exc:
        raise ParamError(f"filter {kind!r}: invalid options {sorted(options)} ({exc})") from None


__all__ = ["build_filter"] + [cls.__name__ for cls in _FILTERS.values()]
