"""Text analysis shared by the engine's BM25 function and ``embedb.model.sparse``.

>>> from embedb.text import build_analyzer, analyzer_for_language
>>> analyzer_for_language("en")("The quick brown foxes jumped")
['quick', 'brown', 'fox', 'jump']
>>> build_analyzer({"tokenizer": "standard", "filter": ["lowercase"]})("Hello, World!")
['hello', 'world']
"""

from .analyzer import Analyzer, TokenBatch, analyzer_for_language, build_analyzer, build_default_analyzer
from .languages import LANGUAGES, language_code, stop_words

__all__ = [
    "Analyzer",
    "TokenBatch",
    "LANGUAGES",
    "analyzer_for_language",
    "build_analyzer",
    "build_default_analyzer",
    "language_code",
    "stop_words",
]
