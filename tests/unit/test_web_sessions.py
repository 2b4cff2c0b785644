"""web/sessions.py and the gateway's pure rules: tokens, the Authorization header, read-your-writes, error codes.

The Sessions logic is driven through its seam (the cache gateway passed in): here a dict with Redis' semantics for
the five calls it makes; tests/integration/test_web_api.py runs it on the real Redis.
"""

from __future__ import annotations

import pytest

from polydemo.errors import AlreadyExists, NotFound, PolydemoError, StoreUnreachable, Unauthenticated
from polydemo.web.schema import applied, error_code
from polydemo.web.sessions import Sessions, bearer, token_hash


class DictCache:
    def __init__(self):
        self.data: dict[str, tuple[dict, int]] = {}

    def session_put(self, h, fields, ttl):
        self.data[h] = (dict(fields), ttl)

    def session_get(self, h):
        return self.data.get(h)

    def session_update(self, h, fields):
        if h not in self.data:
            return False
        self.data[h][0].update(fields)
        return True

    def session_delete(self, h):
        return self.data.pop(h, None) is not None


def test_a_session_keeps_the_tokens_hash_not_the_token():
    cache = DictCache()
    s = Sessions(cache, ttl_s=60).create("u1", "a@b.c", "Ada")
    assert len(s.token) >= 40 and s.ttl_s == 60
    assert list(cache.data) == [token_hash(s.token)]
    assert s.token not in str(cache.data)
    found = Sessions(cache).find(s.token)
    assert (found.user_id, found.email, found.name, found.mark) == ("u1", "a@b.c", "Ada", None)


def test_mark_and_end():
    cache = DictCache()
    sessions = Sessions(cache)
    s = sessions.create("u1", "a@b.c", None)
    sessions.mark(s, 12345)
    assert sessions.find(s.token).mark == 12345
    assert sessions.end(s.token) is True
    with pytest.raises(Unauthenticated, match="not valid or has expired"):
        sessions.find(s.token)


@pytest.mark.parametrize("token", [None, "unknown", "x" * 500])
def test_no_bad_or_overlong_token_finds_a_session(token):
    with pytest.raises(Unauthenticated):
        Sessions(DictCache()).find(token)


def test_the_authorization_header():
    assert bearer(None) is None and bearer("") is None
    assert bearer("Bearer abc") == "abc" and bearer("bearer  abc ") == "abc"
    for bad in ("Basic abc", "Bearer", "abc"):
        with pytest.raises(Unauthenticated, match="Bearer <token>"):
            bearer(bad)


def test_read_your_writes_needs_a_change_of_this_user_at_or_after_the_mark():
    ring = [
        {"lsn": 90, "key": {"id": "u1"}},
        {"lsn": 120, "key": {"id": "u2"}},
        {"lsn": None, "key": {"id": "u1"}},
    ]
    assert not applied(ring, "u1", 100), "u1's change is older than the mark; u2's is someone else's"
    assert applied([*ring, {"lsn": 100, "key": {"follower_id": "u1", "followee_id": "u3"}}], "u1", 100)
    assert not applied(None, "u1", 0)


def test_error_codes():
    assert error_code(Unauthenticated("x")) == "UNAUTHENTICATED"
    assert error_code(AlreadyExists("x")) == "ALREADY_EXISTS"
    assert error_code(NotFound("x")) == "NOT_FOUND"
    assert error_code(StoreUnreachable("redis", "down")) == "UNAVAILABLE"
    assert error_code(PolydemoError("x")) == "BAD_INPUT"


def test_the_published_schema_is_the_served_one():
    """docs/schema.graphql is the SDL `GET /graphql/schema` serves; regenerate it with
    `.venv/bin/python -c "from polydemo.web.schema import schema; print(schema.as_str())" > docs/schema.graphql`."""
    from pathlib import Path

    from polydemo.web.schema import schema

    published = Path(__file__).resolve().parents[2] / "docs" / "schema.graphql"
    assert published.read_text() == schema.as_str() + "\n", "docs/schema.graphql is out of date: regenerate it"


def test_no_password_matches_a_guests_marker():
    from polydemo.domain.users import NO_PASSWORD, verify_password

    assert not any(verify_password(NO_PASSWORD, p) for p in ("!", "", NO_PASSWORD, "password"))
