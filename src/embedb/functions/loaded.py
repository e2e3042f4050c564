"""Models loaded once per process and shared by every collection (and every thread) that asks
for the same key."""

from __future__ import annotations

import threading
from typing import Any, Callable, Hashable


class SharedModels(dict):
    """A dict of loaded models; ``get_or_load`` loads a missing key once, even under threads."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def get_or_load(self, key: Hashable, load: Callable[[], Any]) -> Any:
        model = self.get(key)
        if model is None:
            with self._lock:  # a second thread waits for the first load instead of repeating it
                model = self.get(key)
                if model is None:
                    model = self[key] = load()
        return model
