"""Search iterator v2 sessions: pymilvus asks for page after page of one search, sending back
the token the first page returned. Each token keeps the client's own ``search_iterator`` (which
never returns a row twice), so pages over the wire equal pages in-process."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

from ..errors import ParamError

TTL_S = 600.0       # a session unused this long is forgotten
MAX_SESSIONS = 1024  # and the oldest go beyond this many


class SearchIteratorSessions:
    def __init__(self) -> None:
        self._sessions: OrderedDict[str, tuple[str, Any, float]] = OrderedDict()
        self._lock = threading.Lock()

    def next_page(self, client: Any, collection: str, token: str, data: Any, batch_size: int,
                  kwargs: dict) -> tuple[Any, str]:
        """The next batch of hits of the session ``token`` (a new session when empty) and the
        session's token."""
        now = time.monotonic()
        with self._lock:
            for stale in [t for t, (_, _, seen) in self._sessions.items() if now - seen > TTL_S]:
                del self._sessions[stale]
            entry = self._sessions.get(token) if token else None
        if token and (entry is None or entry[0] != collection):
            raise ParamError(f"search iterator {token!r} is unknown or expired (unused for "
                             f"{TTL_S:.0f} s); start a new search_iterator")
        if entry is None:
            iterator = client.search_iterator(collection, data, batch_size=batch_size, **kwargs)
            token = secrets.token_hex(8)
        else:
            iterator = entry[1]
        hits = iterator.next()
        with self._lock:
            self._sessions[token] = (collection, iterator, now)
            self._sessions.move_to_end(token)
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return hits, token
