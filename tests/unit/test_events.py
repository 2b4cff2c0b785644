import json
from datetime import UTC, datetime

import pytest

from polydemo.pipeline.events import PoisonMessage, analytics_events, decode
from polydemo.pipeline.relay import change_to_event

P = "polydemo"
UID = "a94b70fe-1704-586f-b595-37dae767c048"


def env(op, before=None, after=None, lsn=100, ts=1_700_000_000_000):
    return json.dumps(
        {
            "before": before,
            "after": after,
            "op": op,
            "source": {"lsn": lsn, "ts_ms": ts, "table": "users"},
            "ts_ms": ts + 5,
        }
    ).encode()


def test_user_create_becomes_signed_up_at_created_at():
    after = {
        "id": UID,
        "email": "a@b.org",
        "name": "Ada",
        "created_at": "2026-11-25T12:00:00.250000Z",
        "updated_at": "2026-11-25T12:00:00.250000Z",
    }
    ch = decode(P, "polydemo.public.users", b'{"id":"x"}', env("c", after=after))
    assert (ch.entity, ch.op, ch.key) == ("user", "create", {"id": UID})
    [ev] = analytics_events(ch)
    assert ev["event_type"] == "signed_up" and ev["user_id"] == UID
    assert ev["time"] == datetime(2026, 11, 25, 12, 0, 0, 250000, tzinfo=UTC)


def test_same_change_twice_has_same_event_id_and_snapshot_matches_create():
    after = {"id": UID, "name": "Ada"}
    a = decode(P, "polydemo.public.users", None, env("c", after=after, lsn=42))
    b = decode(P, "polydemo.public.users", None, env("c", after=after, lsn=42))
    c = decode(P, "polydemo.public.users", None, env("c", after=after, lsn=43))
    assert a.event_id == b.event_id != c.event_id
    snap = decode(P, "polydemo.public.users", None, env("r", after=after, lsn=42))
    assert snap.op == "create" and snap.event_id == a.event_id


def test_delete_uses_before_key():
    ch = decode(P, "polydemo.public.users", None, env("d", before={"id": UID}))
    assert ch.op == "delete" and ch.key == {"id": UID} and ch.after is None
    assert analytics_events(ch)[0]["event_type"] == "user_deleted"


def test_follow_events():
    row = {"follower_id": "f1", "followee_id": "f2", "created_at": "2026-11-25T12:00:00Z"}
    ch = decode(P, "polydemo.public.follows", None, env("c", after=row))
    [ev] = analytics_events(ch)
    assert ev["event_type"] == "followed" and ev["user_id"] == "f1" and ev["properties"] == {"followee_id": "f2"}
    gone = decode(P, "polydemo.public.follows", None, env("d", before={"follower_id": "f1", "followee_id": "f2"}))
    assert analytics_events(gone)[0]["event_type"] == "unfollowed"


def test_truncate_and_tombstone_are_skipped():
    assert decode(P, "polydemo.public.users", None, None) is None
    assert decode(P, "polydemo.public.users", None, json.dumps({"op": "t", "source": {}}).encode()) is None


@pytest.mark.parametrize(
    "value, reason",
    [
        (b"not json{", "not JSON"),
        (b"[1,2]", "not an object"),
        (json.dumps({"op": "x"}).encode(), "known op"),
        (json.dumps({"op": "c", "after": None}).encode(), "without a after"),
        (json.dumps({"op": "c", "after": {"name": "no id"}}).encode(), "without id"),
    ],
)
def test_poison(value, reason):
    with pytest.raises(PoisonMessage, match=reason):
        decode(P, "polydemo.public.users", None, value)


def test_post_events_from_the_relay():
    class Ts:
        time = 1_700_000_000

    insert = {
        "_id": {"_data": "T1"},
        "operationType": "insert",
        "documentKey": {"_id": "p1"},
        "clusterTime": Ts(),
        "fullDocument": {"_id": "p1", "author_id": UID, "title": "Hi", "meta": {"likes": 0}},
    }
    ev = change_to_event(insert)
    assert ev["op"] == "insert" and ev["event_id"] == "T1" and ev["ts_ms"] == 1_700_000_000_000
    ch = decode(P, "polydemo.social.posts", b"p1", json.dumps(ev).encode())
    assert analytics_events(ch)[0]["event_type"] == "posted"
    like = {
        **insert,
        "_id": {"_data": "T2"},
        "operationType": "update",
        "updateDescription": {"updatedFields": {"meta.likes": 1}},
        "fullDocument": {**insert["fullDocument"], "meta": {"likes": 1}},
    }
    ch = decode(P, "polydemo.social.posts", b"p1", json.dumps(change_to_event(like)).encode())
    [ev] = analytics_events(ch)
    assert ev["event_type"] == "liked" and ev["properties"]["likes"] == 1
    other = {**like, "updateDescription": {"updatedFields": {"title": "x"}}}
    assert (
        analytics_events(decode(P, "polydemo.social.posts", b"p1", json.dumps(change_to_event(other)).encode())) == []
    )
