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
PRESENTER, AUDIENCE = "presenter", "audience"
KEEP_POSTS = 20
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
    role: str = PRESENTER  # PRESENTER (made on 127.0.0.1) or AUDIENCE (made by `join` on the audience listener)
    epoch: str | None = None  # the audience session an AUDIENCE token belongs to
    posts: tuple[str, ...] = ()  # the ids of this session's last posts (the phone's journey)


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

    def create(
        self, user_id: str, email: str, name: str | None, role: str = PRESENTER, epoch: str | None = None
    ) -> Session:
        token = new_token()
        fields = {"user_id": user_id, "email": email, "name": name or "", "role": role}
        if epoch is not None:
            fields["epoch"] = epoch
        self.cache.session_put(token_hash(token), fields, self.ttl_s)
        return Session(token, user_id, email, name or "", self.ttl_s, role=role, epoch=epoch)

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
        return Session(
            token,
            data["user_id"],
            data["email"],
            data.get("name", ""),
            ttl,
            int(mark) if mark else None,
            role=data.get("role", PRESENTER),
            epoch=data.get("epoch"),
            posts=tuple((data.get("posts") or "").split()),
        )

    def posted(self, session: Session, post_id: str) -> None:
        """Remember one more post of this session (the last KEEP_POSTS)."""
        posts = [*session.posts, post_id][-KEEP_POSTS:]
        self.cache.session_update(token_hash(session.token), {"posts": " ".join(posts)})

    def mark(self, session: Session, lsn: int) -> None:
        self.cache.session_update(token_hash(session.token), {"mark": str(lsn)})

    def end(self, token: str) -> bool:
        return bool(self.cache.session_delete(token_hash(token)))
