"""Language names: ISO 639-1 codes, Milvus/Snowball names, stemmers and shipped stop word lists.

Stop word lists live in ``stopwords/<iso>.txt`` (package data, UTF-8, one word a line); see
``stopwords/SOURCES.md`` for where each list comes from.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from ..errors import ParamError

# ISO 639-1 code -> Snowball/PyStemmer algorithm name (also the Milvus stemmer language name).
STEMMERS: dict[str, str] = {
    "ar": "arabic",
    "hy": "armenian",
    "eu": "basque",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "eo": "esperanto",
    "et": "estonian",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "el": "greek",
    "hi": "hindi",
    "hu": "hungarian",
    "id": "indonesian",
    "ga": "irish",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "no": "norwegian",
    "fa": "persian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "st": "sesotho",
    "es": "spanish",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}

# Languages with a shipped stop word list (ISO code -> file stem).
STOP_WORD_LANGUAGES = ("da", "de", "en", "es", "fr", "it", "ko", "nl", "no", "pt", "ru", "sv", "tr", "zh")

# Extra names accepted for a language: full English names ("english", "german"), the legacy
# pymilvus.model keys ("sp", "jp", "kr") and a few common spellings.
_ALIASES: dict[str, str] = {name: code for code, name in STEMMERS.items()}
_ALIASES.update(
    {
        "chinese": "zh",
        "cn": "zh",
        "korean": "ko",
        "kr": "ko",
        "japanese": "ja",
        "jp": "ja",
        "sp": "es",
        "dutch_porter": "nl",
        "porter": "en",
        "nb": "no",
        "nn": "no",
        "bokmal": "no",
    }
)

#: Every ISO code embedb knows something about (a stemmer, a stop list, or a tokenizer).
LANGUAGES: tuple[str, ...] = tuple(sorted(set(STEMMERS) | set(STOP_WORD_LANGUAGES) | {"zh"}))


def language_code(name: str) -> str:
    """Normalise a language name or code ("en", "EN", "english", "_english_") to its ISO code."""
    if not isinstance(name, str) or not name.strip():
        raise ParamError(f"language must be a non-empty string, got {name!r}")
    key = name.strip().lower().strip("_").replace("-", "_")
    key = key.split("_")[0] if len(key) > 3 and key[2] == "_" else key  # "pt_br" -> "pt"
    if key in LANGUAGES:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    raise ParamError(
        f"unknown language {name!r}; known ISO codes: {', '.join(LANGUAGES)} "
        "(English names such as 'english' or 'german' are accepted too)"
    )


def language_name(code: str) -> str:
    """English name of an ISO code ("de" -> "german"), as Milvus spells stop lists and stemmers."""
    return STEMMERS.get(code) or {"zh": "chinese", "ko": "korean", "ja": "japanese"}.get(code, code)


def stemmer_name(language: str) -> str:
    """PyStemmer algorithm for a language name or code; ParamError if there is none."""
    code = language_code(language)
    if code not in STEMMERS:
        raise ParamError(
            f"no stemmer for language {language!r}; stemmers exist for: {', '.join(sorted(STEMMERS))}"
        )
    return STEMMERS[code]


@lru_cache(maxsize=None)
def stop_words(language: str) -> frozenset[str]:
    """The shipped stop word list of a language (``_english_``, ``english`` and ``en`` all work)."""
    code = language_code(language)
    if code not in STOP_WORD_LANGUAGES:
        raise ParamError(
            f"no built-in stop word list for language {language!r}; lists exist for: "
            + ", ".join(f"_{language_name(c)}_" for c in STOP_WORD_LANGUAGES)
        )
    text = resources.files("embedb.text").joinpath("stopwords", f"{code}.txt").read_text("utf-8")
    return frozenset(w for w in (line.strip() for line in text.splitlines()) if w)
