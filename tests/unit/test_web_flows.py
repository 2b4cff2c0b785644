"""web/flows.py: the projectors' ring entries become flows on the drawn topology (pure, no servers)."""

from __future__ import annotations

from polydemo.web.flows import FlowTracker, edges, flows_from, source_node

T0 = 1_800_000_000_000.0


def rec(eid="pg:user:u1:c:100", entity="user", key=None, lsn=100, consumed=10.0, applied=12.0, topic="pd.public.users"):
    return {
        "event_id": eid,
        "entity": entity,
        "op": "create",
        "key": key or {"id": "u1"},
        "source_ts_ms": T0,
        "lsn": lsn,
        "topic": topic,
        "partition": 2,
        "offset": 9,
        "kafka_ts_ms": T0 + 5,
        "consumed_at_ms": T0 + consumed,
        "applied_at_ms": T0 + applied,
    }


def test_a_user_change_applied_by_all_three_is_complete_with_every_hop_in_order():
    (flow,) = flows_from(
        {"graph": [rec(consumed=8, applied=40)], "cache": [rec()], "analytics": [rec(consumed=9, applied=20)]},
        {"u1": "Ada"},
    )
    assert flow["complete"] and flow["label"] == "Ada" and flow["entity"] == "user"
    names = [h["name"] for h in flow["hops"]]
    assert names == [
        "Postgres commit",
        "Kafka append",
        "graph consume",
        "visible in Neo4j",
        "cache consume",
        "visible in Redis",
        "analytics consume",
        "visible in time-series",
    ]
    assert [h["ms"] for h in flow["hops"]] == [0, 5, 8, 40, 10, 12, 9, 20]
    assert flow["hops"][1]["detail"] == "public.users[2]@9"
    assert edges(flow) == [
        "postgres-connect",
        "connect-kafka",
        "kafka-graph",
        "graph-neo4j",
        "kafka-cache",
        "cache-redis",
        "kafka-analytics",
        "analytics-timeseries",
    ]


def test_a_projector_that_has_not_applied_it_leaves_its_hops_unknown():
    (flow,) = flows_from({"graph": [rec()], "cache": [], "analytics": None})
    assert not flow["complete"]
    unknown = [h["name"] for h in flow["hops"] if h["at_ms"] is None]
    assert unknown == ["cache consume", "visible in Redis", "analytics consume", "visible in time-series"]
    assert "kafka-cache" not in edges(flow) and "kafka-graph" in edges(flow)
    assert flow["label"] == "u1", "no name known: the short id"


def test_a_post_comes_from_mongo_through_the_relay_and_only_analytics_consumes_it():
    post = rec(eid="evt-1", entity="post", key={"id": "p1"}, lsn=None, topic="pd.social.posts")
    (flow,) = flows_from({"graph": [], "cache": [], "analytics": [post]})
    assert source_node(post) == "mongo"
    assert flow["complete"]
    assert [h["node"] for h in flow["hops"]] == ["mongo", "kafka", "analytics", "timeseries"]
    assert edges(flow)[:2] == ["mongo-relay", "relay-kafka"]


def test_a_follow_is_labelled_with_both_names():
    follow = rec(eid="pg:follow:a:b:c:7", entity="follow", key={"follower_id": "a", "followee_id": "b"})
    (flow,) = flows_from({"graph": [follow]}, {"a": "Ada", "b": "Grace"})
    assert flow["label"] == "Ada → Grace" and flow["short"] == "a→b"


def test_the_tracker_pushes_a_flow_when_new_and_again_only_when_it_knows_more():
    tracker = FlowTracker(keep=2)
    partial = flows_from({"graph": [rec()]})
    assert [f["id"] for f in tracker.update(partial)] == ["pg:user:u1:c:100"]
    assert tracker.update(partial) == [], "nothing new"
    fuller = flows_from({"graph": [rec()], "cache": [rec()]})
    assert len(tracker.update(fuller)) == 1
    for i in range(3):
        tracker.update(flows_from({"graph": [rec(eid=f"e{i}", key={"id": f"u{i}"})]}))
    assert len(tracker.flows) == 2, "bounded"


def test_edge_counts_cover_the_last_window_only():
    tracker = FlowTracker()
    tracker.update(flows_from({"cache": [rec()]}))
    old = rec(eid="old", key={"id": "u9"})
    old["source_ts_ms"] = T0 - 60_000
    tracker.update(flows_from({"cache": [old]}))
    counts = tracker.edge_counts(now_ms=T0 + 1000, window_s=30)
    assert counts["kafka-cache"] == 1 and counts["postgres-connect"] == 1


def test_the_hub_asks_each_label_once_and_survives_a_failing_lookup():
    from polydemo.config import Settings
    from polydemo.web.hub import Hub

    asked: list[tuple[str, list[str]]] = []
    fail = {"on": True}

    def names(kind, ids):
        asked.append((kind, ids))
        if fail["on"]:
            raise OSError("postgres is down")
        return {i: f"Name of {i}" for i in ids if i != "ghost"}

    post = rec(eid="evt-1", entity="post", key={"id": "p1"}, lsn=None)
    rings = {"graph": [rec(key={"id": "u1"})], "cache": [rec(eid="e2", key={"id": "ghost"})], "analytics": [post]}
    hub = Hub(Settings.from_env(), collect=lambda: None, recent=lambda s, n: rings.get(n), names=names)
    assert {f["label"] for f in hub.read_flows()} == {"u1", "ghost", "p1"}, "a lookup that fails: short ids"
    fail["on"] = False
    hub.tracker.flows.clear()
    labels = {f["id"]: f["label"] for f in hub.read_flows()}
    assert labels == {"pg:user:u1:c:100": "Name of u1", "e2": "ghost", "evt-1": "Name of p1"}
    before = len(asked)
    hub.read_flows()
    assert len(asked) == before, "each id is asked once (a missing one too)"
    assert sorted(k for k, _ in asked[-2:]) == ["post", "user"]


def test_hidden_posts_titles_are_scrubbed_from_the_snapshot():
    from polydemo.web.hub import HIDDEN, scrub

    snap = {
        "mongo": {"latest": [{"id": "p-123456789", "title": "rude"}, {"id": "p-2", "title": "fine"}]},
        "feed": [
            {"topic": "social.posts", "key": "p-123456", "detail": "rude"},
            {"topic": "public.users", "key": "p-123456", "detail": "Ada"},
        ],
    }
    out = scrub(snap, {"p-123456789"})
    assert [p["title"] for p in out["mongo"]["latest"]] == [HIDDEN, "fine"]
    assert [f["detail"] for f in out["feed"]] == [HIDDEN, "Ada"]
    assert scrub({"mongo": None, "feed": []}, {"x"}) == {"mongo": None, "feed": []}


def test_each_service_is_named_healthy_not_answering_or_down_as_in_the_terminal():
    from polydemo.web.hub import with_states

    snap = {
        "services": [
            {"name": "postgres", "ok": True, "error": None},
            {"name": "redis", "ok": False, "error": "TimeoutError: Timeout reading from socket"},
            {"name": "neo4j", "ok": False, "error": "ServiceUnavailable: Couldn't connect: Connection refused"},
        ]
    }
    assert [s["state"] for s in with_states(snap)["services"]] == ["healthy", "not answering", "down"]
