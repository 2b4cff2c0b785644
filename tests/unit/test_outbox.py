"""The transactional outbox, pure: the outbox entry's shape and the connector config's router and predicate."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from polydemo.config import Settings
from polydemo.errors import PolydemoError
from polydemo.pipeline import connector, outbox
from polydemo.pipeline.topics import all_topics


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env(home=tmp_path)


def test_outbox_entry_carries_debeziums_columns_and_the_post_event():
    row = outbox.post_row("author-1", " Hello ", "the body", ["b", "a", "b"], "post-1")
    row["created_at"] = datetime(2026, 11, 1, tzinfo=UTC)
    entry = outbox.outbox_entry(row, event_id="00000000-0000-0000-0000-000000000001")
    assert set(entry) == {"id", "aggregatetype", "aggregateid", "type", "payload"}
    assert entry["aggregatetype"] == "posts" and entry["aggregateid"] == "post-1" and entry["type"] == "posted"
    assert entry["payload"] == {
        "op": "insert",
        "post_id": "post-1",
        "author_id": "author-1",
        "title": row["title"],
        "tags": ["a", "b"],
        "likes": 0,
        "ts_ms": 1793491200000,
        "via": "outbox",
    }
    assert "body" not in entry["payload"]


def test_each_entry_has_its_own_event_id():
    row = outbox.post_row("a", "t", "", None, None)
    assert outbox.outbox_entry(row)["id"] != outbox.outbox_entry(row)["id"]
    assert row["id"]  # a new post id when none is given


def test_the_outbox_post_obeys_the_post_limits():
    with pytest.raises(PolydemoError):
        outbox.post_row("a", "x" * 201, "", None, "p")


def test_connector_routes_only_the_outbox_table_through_the_event_router(settings):
    cfg = connector.config(settings)
    assert "public.outbox" in cfg["table.include.list"].split(",")
    assert {"public.users", "public.follows"} <= set(cfg["table.include.list"].split(","))
    assert cfg["transforms"] == "outbox"
    assert cfg["transforms.outbox.type"] == "io.debezium.transforms.outbox.EventRouter"
    assert cfg["transforms.outbox.predicate"] == "isOutbox" and cfg["predicates"] == "isOutbox"
    assert cfg["predicates.isOutbox.type"] == "org.apache.kafka.connect.transforms.predicates.TopicNameMatches"
    pattern = re.compile(cfg["predicates.isOutbox.pattern"])
    assert pattern.fullmatch(f"{settings.topic_prefix}.public.outbox")
    for other in ("users", "follows"):
        assert not pattern.fullmatch(f"{settings.topic_prefix}.public.{other}")
    assert not pattern.fullmatch(f"__debezium-heartbeat.{settings.topic_prefix}")
    assert not pattern.fullmatch(f"{settings.topic_prefix}XpublicXoutbox")  # the dots are literal


def test_router_topic_is_the_outbox_topic_and_is_created_up_front(settings):
    cfg = connector.config(settings)
    assert cfg["transforms.outbox.route.by.field"] == "aggregatetype"
    routed = cfg["transforms.outbox.route.topic.replacement"].replace("${routedByValue}", outbox.AGGREGATE_TYPE)
    assert routed == outbox.outbox_topic(settings) == f"{settings.topic_prefix}.outbox.posts"
    assert cfg["transforms.outbox.table.field.event.key"] == "aggregateid"
    assert cfg["transforms.outbox.table.expand.json.payload"] == "true"
    assert outbox.outbox_topic(settings) in all_topics(settings)  # so `up` creates it and `reset` empties it


def test_the_users_connector_keeps_its_guarantees(settings):
    cfg = connector.config(settings)
    assert cfg["column.exclude.list"] == "public.users.hashed_password"
    assert not any(k.startswith("_") for k in cfg)
    assert all("{" not in v or v.endswith("${routedByValue}") for v in cfg.values())  # every placeholder filled
