"""polydemo trace: the waterfall built from recorded projector rings, and rendered (pure)."""

from __future__ import annotations

import json

from rich.console import Console

from polydemo.pipeline.trace import Trace, build
from polydemo.views import trace_view

USERS = "polydemo.public.users"


def rec(uid: str, consumed: float, applied: float, event: str = "e1", src: int = 1_000, kafka: int = 1_012, **kw):
    return {
        "event_id": event,
        "entity": "user",
        "op": "create",
        "key": {"id": uid},
        "source_ts_ms": src,
        "lsn": 4242,
        "topic": USERS,
        "partition": 0,
        "offset": 7,
        "kafka_ts_ms": kafka,
        "consumed_at_ms": consumed,
        "applied_at_ms": applied,
        **kw,
    }


def text(trace: Trace) -> str:
    console = Console(width=100, record=True, color_system=None)
    console.print(trace_view(trace))
    return console.export_text()


def test_all_hops_in_order_from_the_commit():
    recents = {
        "graph": [rec("other", 1.0, 2.0, event="x"), rec("u1", 1_020.0, 1_031.5)],
        "cache": [rec("u1", 1_018.0, 1_019.0)],
        "analytics": [rec("u1", 1_025.0, 1_040.0)],
    }
    t = build("user", "ann@example.com", "u1", recents)
    assert t.complete and t.event_id == "e1"
    assert [h.name for h in t.hops] == [
        "Postgres commit",
        "Kafka append",
        "graph consume",
        "visible in Neo4j",
        "cache consume",
        "visible in Redis",
        "analytics consume",
        "visible in time-series",
    ]
    assert [t.ms(h) for h in t.hops] == [0, 12, 20, 31.5, 18, 19, 25, 40]
    assert [h.after for h in t.hops] == [None, 0, 1, 2, 1, 4, 1, 6]  # each store's bars follow Kafka
    assert t.hops[0].detail == "lsn 4242" and t.hops[1].detail == "public.users[0]@7"
    assert Trace.from_dict(json.loads(json.dumps(t.to_dict()))).to_dict() == t.to_dict()
    out = text(t)
    assert "visible in Neo4j" in out and "+31.5" in out and "lsn 4242" in out and "█" in out
    assert all(len(line) <= 100 for line in out.splitlines())


def test_the_latest_change_is_traced_and_a_missing_projector_is_unknown_not_guessed():
    old = rec("u1", 1_020.0, 1_030.0)
    new = rec("u1", 5_020.0, 5_030.0, event="e2", src=5_000, kafka=5_010, op="update")
    t = build("user", "u1", "u1", {"graph": [old, new], "cache": [old], "analytics": None})
    assert t.event_id == "e2" and t.op == "update" and not t.complete
    by = {h.name: h for h in t.hops}
    assert t.ms(by["visible in Neo4j"]) == 30
    assert by["visible in Redis"].at_ms is None and "not among the last" in (by["visible in Redis"].unknown or "")
    assert "cannot be read" in (by["analytics consume"].unknown or "")
    out = text(t)
    assert "unknown" in out and "?" in out
    assert t.to_dict()["hops"][4]["ms"] is None


def test_a_post_goes_through_the_relay_to_analytics_only_and_no_record_is_said():
    post = rec("p1", 2_030.0, 2_050.0, entity="post", src=2_000, kafka=2_004, lsn=None)
    t = build("post", "p1", "p1", {"analytics": [post]})
    assert [h.name for h in t.hops] == [
        "Mongo write",
        "relay publish → Kafka",
        "analytics consume",
        "visible in time-series",
    ]
    assert [t.ms(h) for h in t.hops] == [0, 4, 30, 50]
    empty = build("user", "nobody", "u9", {"graph": [post], "cache": [], "analytics": []})
    assert empty.hops == [] and "no change of this key" in text(empty)


def test_user_text_in_the_trace_is_not_markup():
    t = build("user", "[red]x@y[/red]", "u1", {"graph": [rec("u1", 1_020.0, 1_030.0)], "cache": [], "analytics": []})
    assert "[red]x@y[/red]" in text(t)
