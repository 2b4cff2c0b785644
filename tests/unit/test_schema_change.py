"""Issue 16: the tolerant reader of users rows, the schema-change step kinds' validation, the bio limit."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from polydemo.domain import limits
from polydemo.errors import PolydemoError
from polydemo.pipeline.events import decode, row_fields
from polydemo.scenario import model
from polydemo.stores import postgres
from polydemo.stores.cache import profile_fields

BASE = {"id": "u1", "email": "a@x.org", "name": "A", "created_at": "2025-01-01T00:00:00Z", "updated_at": "t"}


def test_unknown_fields_are_ignored():
    out = profile_fields({**BASE, "shoe_size": 44, "nickname": "z"})
    assert set(out) == {"email", "name", "updated_at", "bio"}
    assert out["name"] == "A" and out["bio"] is None


def test_missing_fields_take_their_defaults():
    assert profile_fields({"id": "u1"}) == {"email": "", "name": "", "updated_at": "", "bio": None}
    assert profile_fields(None)["name"] == ""
    assert profile_fields({**BASE, "name": None})["name"] == ""


def test_the_bio_comes_from_about_after_the_rename_and_from_bio_before():
    assert profile_fields({**BASE, "bio": "old"})["bio"] == "old"
    assert profile_fields({**BASE, "bio": "old", "about": "new"})["bio"] == "new"  # both during the backfill
    assert profile_fields({**BASE, "about": "new"})["bio"] == "new"
    assert profile_fields({**BASE, "bio": None, "about": None})["bio"] is None


def test_a_users_event_with_a_new_column_decodes_and_one_without_id_is_poison():
    import json

    from polydemo.pipeline.events import PoisonMessage

    env = {"before": None, "after": {**BASE, "bio": None}, "op": "c", "source": {"lsn": 7, "ts_ms": 1}}
    ch = decode("p", "p.public.users", None, json.dumps(env).encode())
    assert ch is not None and ch.key == {"id": "u1"} and ch.after["bio"] is None
    assert row_fields(env) == ["bio", "created_at", "email", "id", "name", "updated_at"]
    broken = {**env, "after": {k: v for k, v in env["after"].items() if k != "id"}}
    with pytest.raises(PoisonMessage, match="users row without id"):
        decode("p", "p.public.users", None, json.dumps(broken).encode())


def test_row_fields_of_a_delete_and_of_an_enveloped_event():
    assert row_fields({"op": "d", "before": {"id": "u1"}, "after": None}) == ["id"]
    assert row_fields({"payload": {"op": "u", "after": {"id": "u", "about": "x"}}}) == ["about", "id"]
    assert row_fields({"op": "u", "after": None}) == []


def parse(step: dict):
    return model.Scenario.model_validate({"title": "t", "steps": [step]}).steps[0]


def test_schema_steps_parse():
    add = parse({"add_column": {"table": "users", "column": "bio", "type": "text", "during_load": 10}})
    assert isinstance(add, model.AddColumn) and "ADD COLUMN bio TEXT during 10" in add.describe()
    assert isinstance(parse({"drop_column": {"column": "about"}}), model.DropColumn)
    fill = parse({"backfill": {"from": "bio", "to": "about"}})
    assert isinstance(fill, model.Backfill) and fill.from_ == "bio"
    assert isinstance(parse({"schema": {"has": ["bio"]}}), model.Schema)
    assert parse({"breaking_event": {"user": "a@x.org"}}).without == ["id"]
    assert parse({"update_profile": {"user": "a@x.org", "bio": "hi"}}).bio == "hi"


@pytest.mark.parametrize(
    "step, message",
    [
        ({"add_column": {"table": "follows", "column": "bio"}}, "table 'follows' is not open to schema changes"),
        ({"add_column": {"column": "name"}}, "column 'name' is not open to schema changes"),
        ({"add_column": {"column": "bio; DROP TABLE users"}}, "is not open to schema changes"),
        ({"add_column": {"column": "bio", "type": "bytea"}}, "Input should be 'text' or 'varchar(500)'"),
        ({"drop_column": {"column": "id"}}, "column 'id' is not open to schema changes"),
        ({"drop_column": {"column": "email"}}, "column 'email' is not open"),
        ({"backfill": {"from": "bio", "to": "bio"}}, "two different columns"),
        ({"backfill": {"from": "name", "to": "about"}}, "column 'name' is not open"),
        ({"update_profile": {"user": "a@x.org"}}, "needs a name or a bio"),
        ({"schema": {"topic": "posts"}}, "Input should be 'users'"),
        ({"sql": "ALTER TABLE users DROP COLUMN email"}, "Input tag .sql. found"),
        ({"breaking_event": {"user": "a@x.org", "without": []}}, "at least 1 item"),
    ],
)
def test_schema_steps_are_validated(step, message):
    with pytest.raises((ValidationError, ValueError), match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(step)


def test_the_gateway_refuses_what_the_allow_list_does_not_name():
    with pytest.raises(ValueError, match="not open to schema changes"):
        postgres.check_story_column("users", "hashed_password")
    with pytest.raises(ValueError, match="not open to schema changes"):
        postgres.check_story_table("follows")
    assert postgres.check_story_column("users", "about") == "about"
    assert set(model.STORY_COLUMNS) == set(postgres.STORY_COLUMNS["users"])
    assert set(model.STORY_TYPES) == set(postgres.STORY_TYPES)


def test_the_bio_is_bounded():
    assert limits.check_bio("line one\nline two") == "line one\nline two"
    assert limits.check_bio("") == ""
    with pytest.raises(PolydemoError, match="the bio is 501 characters long, over the limit of 500"):
        limits.check_bio("x" * 501)
    with pytest.raises(PolydemoError, match="control character"):
        limits.check_bio("\x1b[2J")
