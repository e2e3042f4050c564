"""Regular-expression filters (``=~`` / ``!~``) on RE2: time linear in the text, always.

Python's ``re`` backtracks, so one pattern such as ``(a+)+$`` can hold a scan for minutes. RE2
(google-re2) runs in time linear in the text for every pattern it accepts; it refuses the
features that need backtracking (backreferences ``\\1``, lookaround ``(?=``...), and those
refusals become a FilterError naming the pattern.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np


class RegexError(ValueError):
    """The pattern is not valid RE2 syntax (the message says why)."""


@functools.lru_cache(maxsize=1)
def _options() -> Any:
    import re2  # deferred: keeps `import embedb` cheap

    options = re2.Options()
    options.log_errors = False  # RE2 would print every rejected pattern to stderr
    return options


@functools.lru_cache(maxsize=256)
def compile_regex(pattern: str) -> Any:
    """A compiled RE2 pattern; RegexError when RE2 rejects it."""
    import re2

    try:
        return re2.compile(pattern, _options())
    except re2.error as e:
        reason = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        raise RegexError(f"invalid regular expression {pattern!r}: {reason} "
                         "(patterns use RE2 syntax: no backreferences or lookaround)") from None
    except UnicodeEncodeError:
        raise RegexError(f"invalid regular expression {pattern!r}: not valid Unicode text") from None


def search_mask(pattern: str, values: list[str]) -> np.ndarray:
    """Which of ``values`` contain a match of ``pattern`` anywhere (like ``re.search``)."""
    rx = compile_regex(pattern)
    search = rx.search
    try:
        return np.fromiter((search(s) is not None for s in values), dtype=bool, count=len(values))
    except UnicodeEncodeError:  # a lone surrogate (from a damaged store): never a raw error
        raise RegexError("a value holds text that is not valid Unicode") from None
