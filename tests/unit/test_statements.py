"""The statement log behind `scenario run --show-commands`: what is shown, and what never is."""

from __future__ import annotations

import psycopg
import pytest

from polydemo.config import Settings
from polydemo.domain import users
from polydemo.errors import AlreadyExists, PolydemoError
from polydemo.pipeline.events import Change
from polydemo.stores import statements
from polydemo.stores.cache import Cache
from polydemo.stores.postgres import Users

PASSWORD = "correct horse battery staple"


class Cursor:
    def __init__(self, log):
        self.log = log

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def execute(self, query, params=()):
        self.log.append((query, params))

    def fetchone(self):
        return {"id": "u-1", "email": "ada@example.org", "name": "Ada", "created_at": None, "updated_at": None}


class Conn:
    """A stand-in psycopg connection: records what the gateway sends."""

    closed = broken = False

    def __init__(self):
        self.sent: list = []

    def cursor(self, row_factory=None):
        return Cursor(self.sent)


def test_a_signup_shows_its_insert_with_the_hash_replaced_and_no_password():
    conn = Conn()
    gw = Users(Settings.from_env(), client=conn)
    with statements.recording() as log:
        users.signup(Settings.from_env(), "Ada@Example.org", "Ada", PASSWORD, gw)
    (_query, params) = conn.sent[0]
    assert params[2].startswith("$argon2id$")  # the store does get the hash
    [st] = log.items
    assert st.store == "postgres" and st.key == "user:u-1"
    assert st.text == (
        "INSERT INTO users (email, name, hashed_password) VALUES ('ada@example.org', 'Ada', '<argon2id hash>') "
        "RETURNING id, email, name, created_at, updated_at"
    )
    assert "$argon2" not in st.text and PASSWORD not in st.text and params[2] not in st.text


class TakenCursor(Cursor):
    def execute(self, query, params=()):
        raise psycopg.errors.UniqueViolation('duplicate key value violates unique constraint "users_email_key"')


class TakenConn(Conn):
    def cursor(self, row_factory=None):
        return TakenCursor(self.sent)


def test_a_taken_email_is_the_gateways_own_error_and_nothing_is_noted():
    gw = Users(Settings.from_env(), client=TakenConn())
    with statements.recording() as log, pytest.raises(AlreadyExists) as got:
        gw.insert_user("ada@example.org", "Ada", "hash")
    assert isinstance(got.value.__cause__, psycopg.errors.UniqueViolation)  # kept for --traceback
    assert "users_email_key" in (got.value.details or "") and log.items == []
    with pytest.raises(PolydemoError, match="is already registered; nothing was written"):
        users.signup(Settings.from_env(), "ada@example.org", "Ada", PASSWORD, gw)


def test_nothing_is_noted_unless_someone_records():
    conn = Conn()
    Users(Settings.from_env(), client=conn).insert_user("a@b.cd", "A", users.hash_password(PASSWORD))
    with statements.recording() as log:
        pass
    assert log.items == [] and not statements.active()


def test_an_argon2_hash_is_redacted_wherever_it_appears():
    h = users.hash_password(PASSWORD)
    shown = [
        statements.sql("UPDATE users SET hashed_password = %s WHERE id = %s", (h, "u-1")),
        statements.cypher("UNWIND $rows AS r SET u.x = r.x", rows=[{"x": h, "nested": [h]}]),
        statements.redis("HSET", "user:1", "secret", h),
        statements.sql("SELECT %s", (statements.Secret("anything at all"),)),
    ]
    for text in shown:
        assert "$argon2" not in text and "anything at all" not in text and "<argon2id hash>" in text
    assert shown[0] == "UPDATE users SET hashed_password = '<argon2id hash>' WHERE id = 'u-1'"


def test_sql_literals_are_quoted_like_postgres_would():
    assert statements.sql("VALUES (%s, %s, %s, %s)", ("O'Brien", None, 3, True)) == "VALUES ('O''Brien', NULL, 3, TRUE)"


def test_the_cache_projector_notes_each_command_under_its_change():
    class Pipe:
        def __init__(self):
            self.sent = []

        def execute_command(self, *args):
            self.sent.append(args)

        def set(self, *args):
            self.sent.append(("SET", *args))

        def execute(self):
            return []

    pipe = Pipe()

    class Client:
        def pipeline(self, transaction=True):
            return pipe

        def hget(self, *a):
            return None

    change = Change("user", "create", {"id": "u-1"}, {"email": "ada@example.org", "name": "Ada Lovelace"}, 5, "e1")
    follow = Change("follow", "create", {"follower_id": "u-1", "followee_id": "u-2"}, None, 6, "e2")
    with statements.recording() as log:
        Cache(Settings.from_env(), client=Client()).apply([change, follow])
    texts = {(s.key, s.text) for s in log.items}
    assert ("user:u-1", "SADD polydemo:profiles u-1") in texts
    assert ("follow:u-1:u-2", "SADD followers:u-2 u-1") in texts
    hset = next(s.text for s in log.items if s.text.startswith("HSET"))
    assert hset.startswith('HSET user:u-1 id u-1 email ada@example.org name "Ada Lovelace"')
    assert pipe.sent[0][:4] == ("HSET", "user:u-1", "id", "u-1")  # the same arguments went to Redis
