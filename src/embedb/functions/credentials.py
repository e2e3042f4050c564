"""API keys of HTTP embedding/rerank providers: never in the database files.

A function's ``params["credential"]`` names an entry of the credentials file (as Milvus's
``credential`` names an entry of milvus.yaml): ``$EMBEDB_CREDENTIALS``, else
``~/.config/embedb/credentials.json``, a JSON object ``{"NAME": {"apikey": "..."}}``.
Without ``credential`` the provider's ``embedb.model`` class reads its usual environment
variable (``OPENAI_API_KEY``, ``COHERE_API_KEY``...).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ParamError


def credentials_path() -> Path:
    env = os.environ.get("EMBEDB_CREDENTIALS")
    return Path(env).expanduser() if env else Path.home() / ".config" / "embedb" / "credentials.json"


def api_key_for(function: str, provider: str, credential: Any) -> str | None:
    """The key named by ``credential`` (None: let the model class read the environment)."""
    if credential is None or credential == "":
        return None
    path = credentials_path()
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamError(f"function {function!r}: credential {credential!r} is not defined: "
                         f"the credentials file {path} does not exist (set $EMBEDB_CREDENTIALS "
                         "or write {\"" + str(credential) + "\": {\"apikey\": \"...\"}} there)") from None
    except (OSError, ValueError) as e:
        raise ParamError(f"function {function!r}: cannot read credentials file {path}: {e}") from None
    entry = table.get(str(credential)) if isinstance(table, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("apikey"), str):
        raise ParamError(f"function {function!r}: credential {credential!r} (provider {provider}) "
                         f"has no 'apikey' string in {path}")
    return entry["apikey"]
