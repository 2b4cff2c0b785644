"""Users and follows, in PostgreSQL (strong consistency: a committed write is read back at once)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import psycopg
from argon2 import PasswordHasher
from psycopg.rows import dict_row

from polydemo.config import Settings
from polydemo.domain import limits
from polydemo.errors import PolydemoError
from polydemo.stores import postgres

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHasher()  # argon2id, argon2-cffi's defaults (RFC 9106 low-memory profile)


@dataclass
class User:
    id: str
    email: str
    name: str | None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def as_dict(self) -> dict:
        return {"id": self.id, "email": self.email, "name": self.name,
                "created_at": self.created_at, "updated_at": self.updated_at}


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except Exception:  # noqa: BLE001 - any mismatch or malformed hash is "no"
        return False


def _validate_email(email: str) -> str:
    email = limits.check_email_length(email).strip().lower()
    if not EMAIL_RE.match(email) or limits.problem(email, multiline=False):
        raise PolydemoError(f"{email!r} is not an email address; nothing was written",
                            hint="use the form name@example.org")
    return email


def _row(row: dict) -> User:
    return User(str(row["id"]), row["email"], row["name"], row.get("created_at"), row.get("updated_at"))


def signup(settings: Settings, email: str, name: str, password: str, conn: psycopg.Connection | None = None) -> User:
    """Create a user. The password is hashed with argon2id; the clear text is never stored or logged."""
    email = _validate_email(email)
    name = limits.check_name(name)
    limits.check_password(password)
    hashed = hash_password(password)
    own = conn is None
    conn = conn or postgres.connect(settings)
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "INSERT INTO users (email, name, hashed_password) VALUES (%s, %s, %s) "
                "RETURNING id, email, name, created_at, updated_at",
                (email, name, hashed),
            )
            return _row(cur.fetchone())
    except psycopg.errors.UniqueViolation:
        raise PolydemoError(f"{email} is already registered; nothing was written",
                            hint="sign up with another email, or read it with `polydemo read user`") from None
    finally:
        if own:
            conn.close()


def get_user(settings: Settings, email_or_id: str, conn: psycopg.Connection | None = None) -> User | None:
    own = conn is None
    conn = conn or postgres.connect(settings)
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            if "@" in email_or_id:
                cur.execute("SELECT id, email, name, created_at, updated_at FROM users WHERE email = %s",
                            (email_or_id.strip().lower(),))
            else:
                cur.execute("SELECT id, email, name, created_at, updated_at FROM users WHERE id::text = %s",
                            (email_or_id,))
            row = cur.fetchone()
            return _row(row) if row else None
    finally:
        if own:
            conn.close()


def require_user(settings: Settings, email_or_id: str, conn: psycopg.Connection | None = None) -> User:
    user = get_user(settings, email_or_id, conn)
    if user is None:
        raise PolydemoError(f"no user {email_or_id}", hint="list users with `polydemo snapshot` or sign one up")
    return user


def update_profile(settings: Settings, email_or_id: str, name: str) -> User:
    name = limits.check_name(name)
    with postgres.connect(settings) as conn:
        user = require_user(settings, email_or_id, conn)
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute("UPDATE users SET name = %s, updated_at = now() WHERE id = %s "
                        "RETURNING id, email, name, created_at, updated_at", (name, user.id))
            return _row(cur.fetchone())


def delete_user(settings: Settings, email_or_id: str) -> User:
    """Delete a user; their follows go with them (ON DELETE CASCADE), and CDC carries both."""
    with postgres.connect(settings) as conn:
        user = require_user(settings, email_or_id, conn)
        conn.execute("DELETE FROM users WHERE id = %s", (user.id,))
        return user


def follow(settings: Settings, follower: str, followee: str) -> tuple[User, User, bool]:
    """Returns (follower, followee, created); following twice is not an error (created=False)."""
    with postgres.connect(settings) as conn:
        a, b = require_user(settings, follower, conn), require_user(settings, followee, conn)
        if a.id == b.id:
            raise PolydemoError("a user cannot follow themselves", hint="pick two different users")
        cur = conn.execute("INSERT INTO follows (follower_id, followee_id) VALUES (%s, %s) "
                           "ON CONFLICT DO NOTHING", (a.id, b.id))
        return a, b, cur.rowcount == 1


def unfollow(settings: Settings, follower: str, followee: str) -> tuple[User, User, bool]:
    with postgres.connect(settings) as conn:
        a, b = require_user(settings, follower, conn), require_user(settings, followee, conn)
        cur = conn.execute("DELETE FROM follows WHERE follower_id = %s AND followee_id = %s", (a.id, b.id))
        return a, b, cur.rowcount == 1


def follower_count(settings: Settings, user_id: str) -> int:
    with postgres.connect(settings) as conn:
        return conn.execute("SELECT count(*) FROM follows WHERE followee_id = %s", (user_id,)).fetchone()[0]
