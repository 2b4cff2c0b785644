"""Sign-in sessions, kept in Redis with a TTL (the Cache gateway's ``session_*``).

The client holds a random token (``secrets.token_urlsafe``); Redis holds only its SHA-256, the user's id, email
and name, and the read-your-writes mark (the WAL position before the session's last write). Never a password or a
hash. A bad, ended or expired token is :class:`~polydemo.errors.Unauthenticated`, one message for all three.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from polydemo.errors import Unauthenticated

DEFAULT_TTL_S = 1800
MAX_TOKEN = 200  # a longer header is not one of ours: refused before Redis is asked


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    token: str
    user_id: str
    email: str
    name: str
    ttl_s: int
    mark: int | None = None  # WAL position (int, as Debezium's source.lsn) before this session's last write


def new_token() -> str:
    return secrets.token_urlsafe(32)


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None: no header)."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header is not 'Bearer <token>'", hint="sign in again: signIn")
    return token.strip()


class Sessions:
    """Create, find, mark and end sessions in ``cache`` (a Cache gateway)."""

    def __init__(self, cache: Any, ttl_s: int = DEFAULT_TTL_S):
        self.cache = cache
        self.ttl_s = ttl_s

    def create(self, user_id: str, email: str, name: str | None) -> Session:
        token = new_token()
        self.cache.session_put(token_hash(token), {"user_id": user_id, "email": email, "name": name or ""}, self.ttl_s)
        return Session(token, user_id, email, name or "", self.ttl_s)

    def find(self, token: str | None) -> Session:
        if token is None:
            raise Unauthenticated(
                "this needs a session", hint="sign in first (signIn), then send Authorization: Bearer <token>"
            )
        if len(token) > MAX_TOKEN:
            raise Unauthenticated("the session token is not valid or has expired", hint="sign in again: signIn")
        found = self.cache.session_get(token_hash(token))
        if found is None:
            raise Unauthenticated("the session token is not valid or has expired", hint="sign in again: signIn")
        data, ttl = found
        mark = data.get("mark")
        return Session(token, data["user_id"], data["email"], data.get("name", ""), ttl, int(mark) if mark else None)

    def mark(self, session: Session, lsn: int) -> None:
        self.cache.session_update(token_hash(session.token), {"mark": str(lsn)})

    def end(self, token: str) -> bool:
        return bool(self.cache.session_delete(token_hash(token)))
