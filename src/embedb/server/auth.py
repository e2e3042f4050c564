"""Milvus authentication for ``embedb serve``: every call carries ``authorization`` metadata,
base64 of ``user:password`` or of a token, as pymilvus and the other SDKs send it.

The users file holds one ``user:password`` per line. Passwords are kept hashed (scrypt, per-user
salt): plain lines are hashed and the file rewritten the first time the server reads it, so no
password stays on disk in the clear. A successful check is remembered in memory (by a digest of
the header) so scrypt runs once per credential, not once per call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path

import grpc

from ..errors import ParamError

_PREFIX = "scrypt$"
_N, _R, _P = 2 ** 14, 8, 1


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"{_PREFIX}{salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        salt_hex, digest_hex = stored[len(_PREFIX):].split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    return hmac.compare_digest(hash_password(password, salt), stored)


def load_users(path: str | os.PathLike) -> dict[str, str]:
    """``user -> hashed password`` from a users file, hashing (and rewriting) plain entries."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ParamError(f"users file {str(p)!r} cannot be read: {exc}") from None
    users: dict[str, str] = {}
    rewrite = False
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        user, sep, secret = text.partition(":")
        if not sep or not user or not secret:
            raise ParamError(f"users file {str(p)!r} line {number}: expected 'user:password'")
        if not secret.startswith(_PREFIX):
            secret, rewrite = hash_password(secret), True
        users[user] = secret
    if rewrite:
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text("".join(f"{u}:{h}\n" for u, h in users.items()), encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, p)
    return users


class Authenticator:
    """Decides whether an ``authorization`` header value is a valid token or user:password."""

    def __init__(self, token: str | None = None, users: dict[str, str] | None = None) -> None:
        self._token = token or None
        self._users = dict(users or {})
        self._accepted: set[bytes] = set()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._token or self._users)

    def check(self, header: str | None) -> bool:
        if not self.enabled:
            return True
        if not header:
            return False
        key = hashlib.sha256(header.encode()).digest()
        with self._lock:
            if key in self._accepted:
                return True
        try:
            text = base64.b64decode(header, validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return False
        ok = False
        if self._token is not None and hmac.compare_digest(text, self._token):
            ok = True
        else:
            user, sep, password = text.partition(":")
            stored = self._users.get(user) if sep else None
            ok = stored is not None and check_password(password, stored)
        if ok:
            with self._lock:
                self._accepted.add(key)
        return ok


class AuthInterceptor(grpc.ServerInterceptor):
    """Refuses every call whose metadata lacks valid credentials (UNAUTHENTICATED)."""

    def __init__(self, auth: Authenticator) -> None:
        self._auth = auth

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          "authentication failed: pass token= or user=/password= that the "
                          "server accepts")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    def intercept_service(self, continuation, handler_call_details):
        header = None
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                header = value if isinstance(value, str) else value.decode("latin-1")
                break
        if self._auth.check(header):
            return continuation(handler_call_details)
        return self._deny
