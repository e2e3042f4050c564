"""The resume file of a migration: for each collection and row stream, the last primary key
whose batch reached the destination. Written atomically after every batch, so a killed run
resumes after the last batch it finished (the batch in flight is upserted again: no duplicates).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import ParamError


def default_state_path(src: str, dst: str) -> Path:
    digest = hashlib.sha1(f"{src}\0{dst}".encode()).hexdigest()[:12]
    return Path(f".embedb-migrate-{digest}.json")


class MigrationState:
    def __init__(self, path: Path, src: str, dst: str) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = {"source": src, "destination": dst, "collections": {}}
        if self.path.exists():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise ParamError(f"migrate: cannot read the state file {str(self.path)!r} "
                                 f"({error}); delete it to start over") from None
            if (loaded.get("source"), loaded.get("destination")) != (src, dst):
                raise ParamError(
                    f"migrate: the state file {str(self.path)!r} belongs to a migration from "
                    f"{loaded.get('source')!r} to {loaded.get('destination')!r}; pass another "
                    "--state file or delete it")
            self.data = loaded

    @property
    def resuming(self) -> bool:
        return bool(self.data["collections"])

    def collection(self, name: str) -> dict:
        return self.data["collections"].setdefault(name, {"streams": {}, "done": False})

    def stream(self, name: str, stream: str) -> dict:
        return self.collection(name)["streams"].setdefault(stream, {"last_pk": None, "rows": 0,
                                                                    "batches": 0})

    def save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
