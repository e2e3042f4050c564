"""Tokenizers: split one text into a list of word tokens (no punctuation tokens, ever).

Each tokenizer has ``tokenize(text) -> list[str]``; a token's position is its index in that list.
They are built from the ``tokenizer`` entry of Milvus-style ``analyzer_params``: a name
(``"standard"``) or a dict (``{"type": "jieba", "mode": "search"}``).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from ..errors import ParamError, missing_dependency

# Han ideographs, Hiragana and CJK compatibility ideographs are words of one character each
# (as in Unicode word segmentation, UAX #29); everything else splits on non-word characters.
_CJK = "\u3040-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_STANDARD_PATTERN = f"[{_CJK}]|[^\\W_{_CJK}]+"
_standard_re: re.Pattern | None = None   # compiled on first use (7 ms; ASCII text never needs it)


def _standard_findall(text: str) -> list[str]:
    global _standard_re
    if _standard_re is None:
        _standard_re = re.compile(_STANDARD_PATTERN)
    return _standard_re.findall(text)


_WHITESPACE_RE = re.compile(r"\S+")
_HAS_WORD_CHAR = re.compile(r"[^\W_]")
# UTF-8 bytes -> bytes: ASCII characters that are not letters or digits become spaces; bytes of
# non-ASCII characters are kept. Splitting the result gives chunks that never straddle a token.
_ASCII_SEPARATORS = bytes(
    b if (b >= 0x80 or chr(b).isalnum()) else 0x20 for b in range(256)
)
# The same, also lowercasing ASCII letters (used when the first filter is ``lowercase``: the
# filter still lowercases non-ASCII letters, and fewer distinct chunks reach the filter chain).
_ASCII_SEPARATORS_LOWER = _ASCII_SEPARATORS.lower()


class StandardTokenizer:
    """Unicode word tokenizer: runs of letters and digits; each CJK ideograph is its own token.

    ``"Don't stop-me now!"`` -> ``["Don", "t", "stop", "me", "now"]``. Underscores and all
    punctuation separate words and never become tokens.
    """

    name = "standard"
    # the translations behind chunks / chunks_lowercased (the analyzer's NumPy batch path)
    separators = _ASCII_SEPARATORS
    separators_lowercased = _ASCII_SEPARATORS_LOWER

    def __init__(self) -> None:
        self.tokenize: Callable[[str], list[str]] = _standard_findall

    @staticmethod
    def chunks(text: str) -> list[bytes]:
        """Fast pre-split at ASCII separators (C speed); each chunk holds >= 0 tokens."""
        return text.encode("utf-8").translate(_ASCII_SEPARATORS).split()

    @staticmethod
    def chunks_lowercased(text: str) -> list[bytes]:
        """``chunks`` with ASCII letters lowercased, for analyzers that lowercase first."""
        return text.encode("utf-8").translate(_ASCII_SEPARATORS_LOWER).split()

    @staticmethod
    def split_chunks(chunks: list[bytes]) -> list[list[str]]:
        """``split_chunk`` of many chunks: one decode for all; ASCII chunks are single tokens."""
        if not chunks:
            return []
        parts = b" ".join(chunks).decode("utf-8").split(" ")
        return [[p] if p.isascii() else _standard_findall(p) for p in parts]

    @staticmethod
    def split_chunk(chunk: bytes) -> list[str]:
        """The tokens inside one chunk (run once per distinct chunk: the analyzer memoises)."""
        if chunk.isascii():  # only letters and digits are left in ASCII chunks
            return [chunk.decode("ascii")]
        return _standard_findall(chunk.decode("utf-8"))

    def to_params(self) -> Any:
        return self.name


class IcuTokenizer(StandardTokenizer):
    """Milvus's ``icu`` tokenizer. embedb has no ICU dependency: this is the same Unicode-aware
    word tokenizer as ``standard`` (letters/digits in any script, CJK per character)."""

    name = "icu"


class WhitespaceTokenizer:
    """Splits on whitespace only; punctuation stays attached (``"end."`` stays ``"end."``)."""

    name = "whitespace"

    def __init__(self) -> None:
        self.tokenize: Callable[[str], list[str]] = _WHITESPACE_RE.findall
        self.chunks: Callable[[str], list[str]] = str.split

    def to_params(self) -> Any:
        return self.name


class JiebaTokenizer:
    """Chinese word segmentation with jieba (``pip install "embedb[zh]"``).

    ``mode``: ``"exact"`` (default) or ``"search"`` (also emits the shorter words inside long
    ones); ``hmm``: use jieba's HMM for unknown words; ``dict``: extra words to add to the
    dictionary. Whitespace and punctuation segments are dropped.
    """

    name = "jieba"

    def __init__(self, mode: str = "exact", hmm: bool = True, dict: list[str] | None = None) -> None:
        if mode not in ("exact", "search"):
            raise ParamError(f"jieba tokenizer: mode must be 'exact' or 'search', got {mode!r}")
        if dict is not None and (not isinstance(dict, list) or not all(isinstance(w, str) for w in dict)):
            raise ParamError("jieba tokenizer: dict must be a list of words")
        try:
            import jieba  # lazy: optional extra, slow to import
        except ImportError:
            raise missing_dependency("jieba", "zh") from None
        self.mode = mode
        self.hmm = bool(hmm)
        self.words = [w for w in (dict or []) if w != "_default_"]
        if self.words:
            # A private Tokenizer so custom words do not leak into other analyzers.
            self._jieba = jieba.Tokenizer()
            for w in self.words:
                self._jieba.add_word(w)
        else:
            self._jieba = jieba.dt
        cut = self._jieba.lcut_for_search if mode == "search" else self._jieba.lcut
        has_word = _HAS_WORD_CHAR.search
        hmm_flag = self.hmm

        def tokenize(text: str) -> list[str]:
            return [t for t in cut(text, HMM=hmm_flag) if has_word(t)]

        self.tokenize = tokenize
        self.chunks = tokenize

    def to_params(self) -> Any:
        params: dict[str, Any] = {"type": "jieba"}
        if self.mode != "exact":
            params["mode"] = self.mode
        if not self.hmm:
            params["hmm"] = False
        if self.words:
            params["dict"] = list(self.words)
        return params


_TOKENIZERS: dict[str, Callable[..., Any]] = {
    "standard": StandardTokenizer,
    "whitespace": WhitespaceTokenizer,
    "icu": IcuTokenizer,
    "jieba": JiebaTokenizer,
}


def build_tokenizer(spec: Any) -> Any:
    """A tokenizer from a name or a ``{"type": name, ...options}`` dict."""
    if isinstance(spec, str):
        kind, options = spec, {}
    elif isinstance(spec, dict):
        options = dict(spec)
        kind = options.pop("type", None)
        if not isinstance(kind, str):
            raise ParamError(f"tokenizer {spec!r} needs a 'type'")
    else:
        raise ParamError(f"tokenizer must be a name or a dict, got {spec!r}")
    factory = _TOKENIZERS.get(kind.lower())
    if factory is None:
        raise ParamError(
            f"unknown tokenizer type {kind!r}; valid types: {', '.join(sorted(_TOKENIZERS))}"
        )
    try:
        return factory(**options)
    except TypeError as exc:
        raise ParamError(f"tokenizer {kind!r}: invalid options {sorted(options)} ({exc})") from None
