"""The Kafka panel's partition table (leader, ISR, high watermark, owner instance, committed, lag), rendered
from a snapshot of six-partition topics with the graph projector scaled to three instances: no servers."""

from __future__ import annotations

import json
from pathlib import Path

from polydemo.dashboard.render import focus_group, partition_rows, render
from polydemo.dashboard.snapshot import GroupLag, PartLag, Snapshot, TopicHigh, partition_owners
from polydemo.pipeline.loop import client_id, instance_of
from polydemo.stores.kafka import GroupMember

from .test_dashboard import text_of

FIXTURES = Path(__file__).parent / "fixtures"
PREFIX = "polydemo."
TOPICS = ("public.users", "public.follows", "social.posts", "dualwrite.posts", "outbox.posts")


def scaled(graph_owners: list[int], isr: int = 1, replicas: int = 1, leaderless: tuple[str, int] | None = None):
    """The live fixture, its topics given six partitions, graph owned by instances ``graph_owners`` (users, then
    follows, partition by partition) and cache/analytics by one instance each."""
    snap = Snapshot.from_dict(json.loads((FIXTURES / "snapshot_live.json").read_text()))
    assert snap.kafka is not None
    parts = []
    for t in TOPICS:
        for p in range(6):
            leader = -1 if leaderless == (t, p) else 1
            parts.append(
                TopicHigh(PREFIX + t, p, 10 * (p + 1), leader, list(range(1, isr + 1)), list(range(1, replicas + 1)))
            )
    parts.append(TopicHigh(PREFIX + "dlq", 0, 0, 1, [1], [1]))
    snap.kafka.partitions = parts
    groups = []
    for name, topics in (("graph", TOPICS[:2]), ("cache", TOPICS[:2]), ("analytics", TOPICS[:3])):
        rows = []
        for ti, t in enumerate(topics):
            for p in range(6):
                owner = graph_owners[ti * 6 + p] if name == "graph" else 1
                lag = 2 if (name, t, p) == ("graph", "public.users", 4) else 0
                rows.append(PartLag(PREFIX + t, p, 10 * (p + 1) - lag, 10 * (p + 1), lag, f"{name}#{owner}"))
        instances = len(set(graph_owners)) if name == "graph" else 1
        groups.append(
            GroupLag(
                name, f"polydemo-projector-{name}", sum(r.committed or 0 for r in rows), 0, rows, 0.0, [], instances
            )
        )
    snap.kafka.groups = groups
    return snap


def test_owner_labels_come_from_the_instance_client_ids():
    assert client_id("graph", 2) == "polydemo-graph-2"
    assert instance_of("polydemo-graph-2") == "graph#2"
    assert instance_of("rdkafka") is None
    members = [
        GroupMember("polydemo-graph-1", "/127.0.0.1", (("t", 0), ("t", 1))),
        GroupMember("someone-else", "/127.0.0.1", (("t", 2),)),
    ]
    assert partition_owners(members) == {("t", 0): "graph#1", ("t", 1): "graph#1", ("t", 2): "someone-else"}


def test_one_instance_groups_each_topic_into_one_row():
    snap = scaled([1] * 12)
    assert snap.kafka is not None
    rows = partition_rows(snap.kafka, PREFIX)
    assert [r.label for r in rows] == [
        "users 0-5",
        "follows 0-5",
        "posts 0-5",
        "dlq 0",
        "dual 0-5",
        "outbox 0-5",
    ]
    users = rows[0]
    assert (users.leader, users.in_sync, users.high, users.owner, users.lag) == (1, "1", 210, "#1", 2)
    assert users.committed == 208
    assert rows[2].owner is None and rows[2].lag is None  # graph does not consume posts


def test_three_instances_split_the_rows_by_owner_and_the_frame_shows_them():
    owners = [1, 1, 2, 2, 3, 3] * 2
    snap = scaled(owners)
    assert snap.kafka is not None
    assert focus_group(snap.kafka).projector == "graph"  # type: ignore[union-attr]
    rows = partition_rows(snap.kafka, PREFIX)
    assert [(r.label, r.owner) for r in rows[:3]] == [("users 0-1", "#1"), ("users 2-3", "#2"), ("users 4-5", "#3")]
    assert rows[2].lag == 2
    text = text_of(render(snap), 100, 30)
    kafka = text.split("Kafka · offsets & lag")[1]
    for label, owner in (("users 0-1", "#1"), ("users 2-3", "#2"), ("follows 4-5", "#3")):
        line = next(line for line in kafka.splitlines() if label in line)
        assert owner in line, line
    assert "graph×3" in kafka
    assert "own: graph" in text
    assert len(text.splitlines()) <= 30 and max(len(line) for line in text.splitlines()) <= 100


def test_when_there_is_no_room_the_partitions_of_a_topic_share_one_row():
    owners = [1, 2, 3, 1, 2, 3] * 2  # round-robin: no two neighbours share an owner, 12 rows for graph alone
    snap = scaled(owners)
    assert snap.kafka is not None
    assert len(partition_rows(snap.kafka, PREFIX)) > 12
    coarse = partition_rows(snap.kafka, PREFIX, level=1)
    assert [(r.label, r.owner) for r in coarse[:2]] == [("users 0-5", "*"), ("follows 0-5", "*")]
    text = text_of(render(snap), 100, 30)
    assert "users 0-5" in text.split("Kafka · offsets & lag")[1]


def test_a_replica_out_of_sync_and_a_partition_without_leader_are_shown():
    snap = scaled([1] * 12, isr=2, replicas=3, leaderless=("public.users", 5))
    assert snap.kafka is not None
    rows = partition_rows(snap.kafka, PREFIX)
    assert rows[0].label == "users 0-4" and rows[0].in_sync == "2/3"
    assert rows[1].label == "users 5" and rows[1].leader == -1
    text = text_of(render(snap), 100, 30)
    line = next(line for line in text.splitlines() if "users 5" in line)
    assert " - " in line and "2/3" in line


def lagging(cache_lag: int, graph_instances: int = 1) -> Snapshot:
    """The live fixture with the cache projector stopped and ``cache_lag`` sign-ups waiting on public.users."""
    snap = Snapshot.from_dict(json.loads((FIXTURES / "snapshot_live.json").read_text()))
    assert snap.kafka is not None
    for g in snap.kafka.groups:
        if g.projector == "graph":
            g.instances = graph_instances
        if g.projector == "cache":
            for p in g.partitions:
                if p.topic == PREFIX + "public.users":
                    p.committed, p.lag = p.high - cache_lag, cache_lag
            g.committed, g.lag = sum(p.committed or 0 for p in g.partitions), cache_lag
    return snap


def kafka_panel(text: str) -> str:
    start = next(i for i, line in enumerate(text.splitlines()) if "Kafka · offsets & lag" in line)
    return "\n".join(text.splitlines()[start:])


def test_a_lagging_projector_is_never_all_in_sync_and_the_table_shows_its_lag():
    """Seen on stage: the cache projector stopped, 31 sign-ups waiting, the panel said "all in sync" and the
    partition table's lag column showed the graph group's lag (0) above the row "cache 31"."""
    snap = lagging(31)
    assert snap.kafka is not None
    assert focus_group(snap.kafka).projector == "cache"  # type: ignore[union-attr]
    users = next(r for r in partition_rows(snap.kafka, PREFIX) if r.label == "users 0")
    assert (users.lag, users.committed) == (31, 9)
    text = text_of(render(snap), 100, 30)
    assert "all in sync" not in text
    panel = kafka_panel(text)
    assert "isr ok · lag, own: cache" in panel  # the subtitle names the group whose lag the table shows
    line = next(line for line in panel.splitlines() if "users 0" in line)
    assert line.rstrip(" │").endswith("31"), line


def test_a_scaled_group_keeps_the_table_and_the_subtitle_names_it_while_another_lags():
    snap = lagging(31, graph_instances=2)
    assert snap.kafka is not None
    assert focus_group(snap.kafka).projector == "graph"  # type: ignore[union-attr]
    text = text_of(render(snap), 100, 30)
    assert "all in sync" not in text
    assert "isr ok · lag, own: graph" in text  # the lag column is graph's, and says so


def test_all_in_sync_when_every_group_has_caught_up():
    text = text_of(render(lagging(0)), 100, 30)
    assert "all in sync · own: graph" in text
