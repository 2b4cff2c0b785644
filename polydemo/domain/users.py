"""Users and follows, in PostgreSQL (strong consistency: a committed write is read back at once).

The rules live here (validation, password hashing, "no self-follow"); the SQL lives in the
gateway, ``stores.postgres.Users``. Every function takes an optional gateway to reuse its
connection (a scenario run, a burst); without one it opens and closes its own.
"""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from polydemo.config import Settings
from polydemo.domain import limits
from polydemo.errors import AlreadyExists, NotFound, PolydemoError, Unauthenticated
from polydemo.stores import borrowed
from polydemo.stores.postgres import UserRow, Users

User = UserRow  # the domain's name for a row of users
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHasher()  # argon2id, argon2-cffi's defaults (RFC 9106 low-memory profile)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):  # a mismatch or a malformed hash is "no"
        return False


def _validate_email(email: str) -> str:
    email = limits.check_email_length(email).strip().lower()
    if not EMAIL_RE.match(email) or limits.problem(email, multiline=False):
        raise PolydemoError(
            f"{email!r} is not an email address; nothing was written", hint="use the form name@example.org"
        )
    return email


def signup(settings: Settings, email: str, name: str, password: str, users: Users | None = None) -> User:
    """Create a user. The password is hashed with argon2id; the clear text is never stored or logged."""
    email = _validate_email(email)
    name = limits.check_name(name)
    limits.check_password(password)
    hashed = hash_password(password)
    with borrowed(Users, settings, users) as gw:
        try:
            return gw.insert_user(email, name, hashed)
        except AlreadyExists:  # the gateway's word for a taken unique key
            raise AlreadyExists(
                f"{email} is already registered; nothing was written",
                hint="sign up with another email, or read it with `polydemo read user`",
            ) from None


NO_PASSWORD = "!"  # stored in place of a hash: no password matches it (verify_password answers no)


def signup_without_password(settings: Settings, email: str, name: str, users: Users | None = None) -> User:
    """A user who never signs in with a password (an audience member, whose session token is their identity): the
    same checks as :func:`signup`, no hashing (the cost of argon2id, ~0.1 s of CPU, saved per phone)."""
    email = _validate_email(email)
    name = limits.check_name(name)
    with borrowed(Users, settings, users) as gw:
        try:
            return gw.insert_user(email, name, NO_PASSWORD)
        except AlreadyExists:
            raise AlreadyExists(f"{email} is already registered; nothing was written", hint="join again") from None


def sign_in(settings: Settings, email: str, password: str, users: Users | None = None) -> User:
    """The user whose email and password these are (argon2id check). One answer for a wrong email and a wrong
    password, so the error does not tell which emails exist."""
    email = (email or "").strip().lower()
    with borrowed(Users, settings, users) as gw:
        found = gw.password_hash(email) if email else None
    if found is None or not verify_password(found[1], password or ""):
        raise Unauthenticated("wrong email or password", hint="check both, or sign up first")
    return found[0]


def get_user(settings: Settings, email_or_id: str, users: Users | None = None) -> User | None:
    with borrowed(Users, settings, users) as gw:
        return gw.user(email_or_id)


def require_user(settings: Settings, email_or_id: str, users: Users | None = None) -> User:
    user = get_user(settings, email_or_id, users)
    if user is None:
        raise NotFound(f"no user {email_or_id}", hint="list users with `polydemo snapshot` or sign one up")
    return user


def update_profile(
    settings: Settings, email_or_id: str, name: str | None = None, users: Users | None = None, bio: str | None = None
) -> User:
    """Change the name and/or the bio (validated first: nothing is written when either is refused)."""
    if name is None and bio is None:
        raise PolydemoError("nothing to update", hint="pass --name and/or --bio")
    name = limits.check_name(name) if name is not None else None
    bio = limits.check_bio(bio) if bio is not None else None
    with borrowed(Users, settings, users) as gw:
        user = require_user(settings, email_or_id, gw)
        if bio is not None and not gw.set_bio(user.id, bio):
            raise PolydemoError(
                "the users table has no bio column yet; nothing was written",
                hint="the schema-change scenario adds it: `polydemo scenario run schema-change`",
            )
        return gw.rename(user.id, name) if name is not None else require_user(settings, user.id, gw)


def delete_user(settings: Settings, email_or_id: str, users: Users | None = None) -> User:
    """Delete a user; their follows go with them (ON DELETE CASCADE), and CDC carries both."""
    with borrowed(Users, settings, users) as gw:
        user = require_user(settings, email_or_id, gw)
        gw.delete_user(user.id)
        return user


def follow(settings: Settings, follower: str, followee: str, users: Users | None = None) -> tuple[User, User, bool]:
    """Returns (follower, followee, created); following twice is not an error (created=False)."""
    with borrowed(Users, settings, users) as gw:
        a, b = require_user(settings, follower, gw), require_user(settings, followee, gw)
        if a.id == b.id:
            raise PolydemoError("a user cannot follow themselves", hint="pick two different users")
        return a, b, gw.follow(a.id, b.id)


def unfollow(settings: Settings, follower: str, followee: str, users: Users | None = None) -> tuple[User, User, bool]:
    with borrowed(Users, settings, users) as gw:
        a, b = require_user(settings, follower, gw), require_user(settings, followee, gw)
        return a, b, gw.unfollow(a.id, b.id)


def follower_count(settings: Settings, user_id: str, users: Users | None = None) -> int:
    with borrowed(Users, settings, users) as gw:
        return gw.follower_count(user_id)
