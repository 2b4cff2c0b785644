"""Pure logic of partitioned topics and scaled projectors: the ordering guard, the single-partition note,
the instance files. No servers."""

from __future__ import annotations

from polydemo.config import Settings
from polydemo.pipeline.events import Change
from polydemo.pipeline.loop import instance_file, status_file
from polydemo.pipeline.topics import PARTITIONS, all_topics, topic_partitions, under_partitioned
from polydemo.stack import partition_notes
from polydemo.stores.cache import newest_only, version_key


def user(uid: str, lsn: int | None, name: str = "n") -> Change:
    return Change("user", "update", {"id": uid}, {"id": uid, "name": name}, 0, f"e{lsn}", {"lsn": lsn})


def test_an_older_change_never_lands_over_a_newer_one():
    # A partition re-delivered to a new owner after a rebalance: 10 and 20 again after 30 was applied.
    changes = [user("a", 10), user("a", 20), user("b", 5), user("a", 30), user("a", 20)]
    assert newest_only(changes, {}) == [True, True, True, True, False]
    # What the store already holds counts too; an equal LSN is the same change again (idempotent).
    assert newest_only([user("a", 25), user("a", 30), user("a", 31)], {version_key(user("a", 0)) or "": 30}) == [
        False,
        True,
        True,
    ]


def test_changes_without_a_position_are_always_applied():
    post = Change("post", "create", {"id": "p"}, {}, 0, "m1")
    assert version_key(post) is None and version_key(user("a", None)) is None
    assert newest_only([post, user("a", None)], {}) == [True, True]
    follow = Change("follow", "delete", {"follower_id": "x", "followee_id": "y"}, None, 0, "e", {"lsn": 7})
    assert version_key(follow) == "polydemo:lsn:follow:x:y"


def test_keyed_topics_get_six_partitions_and_the_dlq_one():
    s = Settings.from_env(home="/nonexistent-polydemo-home")
    parts = topic_partitions(s)
    assert set(parts) == set(all_topics(s))
    assert parts[f"{s.topic_prefix}.dlq"] == 1
    assert {n for t, n in parts.items() if t != f"{s.topic_prefix}.dlq"} == {PARTITIONS} == {6}


def test_up_says_one_line_when_old_single_partition_topics_are_kept():
    s = Settings.from_env(home="/nonexistent-polydemo-home")
    now = dict.fromkeys(all_topics(s), 1)
    assert under_partitioned(s, now) == sorted(t for t in now if not t.endswith(".dlq"))
    notes = partition_notes(s, now)
    assert len(notes) == 1 and "polydemo reset" in notes[0] and "public.users" in notes[0]
    assert partition_notes(s, topic_partitions(s)) == []


def test_each_instance_has_its_own_files():
    s = Settings.from_env(home="/nonexistent-polydemo-home")
    assert status_file(s, "graph") == s.run_dir / "projector-graph.json"  # instance 1: as before scaling
    assert status_file(s, "graph", 3) == s.run_dir / "projector-graph-3.json"
    assert instance_file(s, "graph", 2, "pid") == s.run_dir / "projector-graph-2.pid"
