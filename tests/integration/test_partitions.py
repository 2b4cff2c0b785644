"""Issue 14 (partitions and consumers) on the real stack: six partitions per keyed topic, a key on one of
them, a projector scaled 1 → 3 → 1 under load ending with the last name everywhere, and the relay still
publishing each post once after a crash with six partitions."""

from __future__ import annotations

import json
import threading
import time
import uuid

from polydemo.app import Demo
from polydemo.domain import posts, users
from polydemo.pipeline import workers
from polydemo.pipeline.events import topics
from polydemo.pipeline.topics import all_topics, topic_partitions
from polydemo.scenario import loader
from polydemo.stores import postgres
from polydemo.stores.kafka import KafkaAdmin, key_text

from .conftest import wait_for


def test_keyed_topics_have_six_partitions_and_each_key_stays_on_one(stack):
    prefix = f"part{uuid.uuid4().hex[:6]}"
    with KafkaAdmin(stack) as kafka:
        counts = kafka.partition_counts(all_topics(stack))
        assert counts == topic_partitions(stack), counts
        states = kafka.partition_states([topics(stack.topic_prefix)["users"]])
        assert [s.partition for s in states] == list(range(6)) and all(s.leader >= 0 and s.isr for s in states)

        # Ten users, each renamed five times: each user's six changes on one partition, the users spread.
        made = [
            users.signup(stack, f"{prefix}-{i}@example.com", f"{prefix} {i}", "correct horse battery")
            for i in range(10)
        ]
        for u in made:
            for k in range(5):
                users.update_profile(stack, u.id, f"{prefix} {u.email} v{k}")
        # Posts (the relay, keyed by post id): each liked three times.
        with postgres.connect(stack) as conn:
            author = str(conn.execute("SELECT id FROM users ORDER BY email LIMIT 1").fetchone()[0])
        post_ids = [f"{prefix}-p{i}" for i in range(10)]
        for pid in post_ids:
            posts.create_post(stack, author, f"partitioned {pid}", "six partitions", post_id=pid)
            for _ in range(3):
                posts.like_post(stack, pid)

        users_topic, posts_topic = topics(stack.topic_prefix)["users"], topics(stack.topic_prefix)["posts"]
        ids = {u.id for u in made}

        def user_partitions():
            found: dict[str, list[int]] = {}
            for m in kafka.read_partitions(users_topic):
                uid = json.loads(key_text(m.key()) or "{}").get("id")
                if uid in ids:
                    found.setdefault(uid, []).append(m.partition())
            return found if sum(len(v) for v in found.values()) >= 60 else None

        by_user, _ = wait_for(user_partitions, timeout=30, interval=0.5, what="60 user changes on the topic")
        assert all(len(set(p)) == 1 for p in by_user.values()), by_user
        assert len({p[0] for p in by_user.values()}) >= 2, "ten users all on one partition: not partitioned"

        by_post, _ = wait_for(
            lambda: (lambda d: d if sum(1 for k in d if k.startswith(prefix)) == 10 else None)(
                kafka.key_partitions(posts_topic, prefix)
            ),
            timeout=30,
            interval=0.5,
            what="the ten posts on the topic",
        )
        assert all(len(p) == 1 for p in by_post.values()), by_post
        assert len({next(iter(p)) for p in by_post.values()}) >= 2
        assert kafka.count_key(posts_topic, post_ids[0]) == 4  # its insert and three likes, one partition
    print(
        f"\n[partitions] users on partitions {sorted({p[0] for p in by_user.values()})}, "
        f"posts on {sorted({next(iter(p)) for p in by_post.values()})}"
    )


def test_scale_one_three_one_under_load_ends_with_the_last_name_everywhere(stack, runtime):
    t0 = time.monotonic()
    result = Demo(stack, runtime).run_scenario(loader.load("rebalance"), speed=100)
    took = time.monotonic() - t0
    assert result.passed, [(f.index + 1, f.kind, f.message, f.expected, f.seen) for f in result.failures]
    print(f"\n[rebalance] scenario passed in {took:.1f}s at --speed 100")
    for s in result.steps:
        if s.kind in ("scale_projector", "rename", "load", "wait_until"):
            print(f"[rebalance]   {s.kind}: {s.message} ({s.seconds:.1f}s)")
    # Back to one instance, its extra pid files gone; `projector status` has one graph row again.
    assert workers.instances(stack, "graph") == [1]
    assert not list(stack.run_dir.glob("projector-graph-*.pid"))
    assert [s.instance for s in workers.statuses(stack, "graph")] == [1]


def test_scaled_instances_have_their_own_files_and_down_stops_them_by_pid(stack):
    assert workers.scale(stack, "cache", 3) == {2: "started", 3: "started"}
    try:
        assert workers.instances(stack, "cache") == [1, 2, 3]
        for i in (2, 3):
            assert workers.pid_file(stack, "cache", i).exists()
        wait_for(
            lambda: all(s.state == "running" for s in workers.statuses(stack, "cache")), timeout=30, what="3 running"
        )
        assert {s.pid for s in workers.statuses(stack, "cache")} == {
            int(workers.pid_file(stack, "cache", i).read_text().split()[0]) for i in (1, 2, 3)
        }
        # `stop` (what `down` runs per projector) stops every instance, each by its pid.
        assert workers.stop(stack, "cache").endswith("(and 2 more instances)")
        assert workers.instances(stack, "cache") == []
    finally:
        workers.scale(stack, "cache", 1)
        workers.wait_running(stack, ("cache",), timeout=30)


def test_relay_crash_with_six_partitions_still_publishes_each_post_once(stack):
    """SIGKILL the relay in the middle of a burst of posts, start it again: every post is on the (six
    partition) topic exactly once, because its restart reads the tail of every partition."""
    from .test_durability import _topic_inserts

    prefix = f"rly{uuid.uuid4().hex[:6]}-"
    with postgres.connect(stack) as conn:
        author = str(conn.execute("SELECT id FROM users ORDER BY email LIMIT 1").fetchone()[0])
    acked: list[str] = []
    killed = threading.Event()

    def killer() -> None:
        while len(acked) < 150:
            time.sleep(0.001)
        assert workers.kill(stack, "relay") == "killed"
        killed.set()

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    for i in range(500):
        pid = f"{prefix}{i:04d}"
        posts.create_post(stack, author, f"relay crash {i}", "kill -9 the relay", post_id=pid)
        acked.append(pid)
    thread.join(10)
    assert killed.is_set()
    assert workers.start(stack, "relay") == "started"
    on_topic, _ = wait_for(
        lambda: (lambda c: c if len(c) >= len(acked) else None)(_topic_inserts(stack, prefix)),
        timeout=60,
        interval=1.0,
        what="every post on the posts topic",
    )
    assert set(on_topic) == set(acked)
    dupes = {k: v for k, v in on_topic.items() if v != 1}
    assert not dupes, f"published more than once after the relay crash: {list(dupes.items())[:5]}"
    with KafkaAdmin(stack) as kafka:
        spread = kafka.key_partitions(topics(stack.topic_prefix)["posts"], prefix)
    assert len({p for ps in spread.values() for p in ps}) == 6, "500 posts did not reach all six partitions"
    print(f"\n[relay] {len(acked)} posts, relay killed after ~150, each once on the topic across 6 partitions")


def test_an_older_change_delivered_after_a_newer_one_changes_nothing_in_redis_or_neo4j(stack):
    """What a partition's new owner does when it re-reads changes the old owner already applied, and that
    old owner is still writing a newer one: the store write compares the source LSN and keeps the newer."""
    from polydemo.pipeline.events import Change
    from polydemo.stores.cache import Cache
    from polydemo.stores.graph import Graph

    uid = f"guard-{uuid.uuid4().hex[:8]}"

    def change(lsn: int, name: str) -> Change:
        row = {"id": uid, "email": f"{uid}@example.com", "name": name, "updated_at": "2026-01-01T00:00:00Z"}
        return Change("user", "update", {"id": uid}, row, 0, f"pg:user:{uid}:u:{lsn}", {"lsn": lsn})

    with Cache(stack) as cache, Graph(stack) as graph:
        try:
            for store in (cache, graph):
                store.apply([change(200, "newer")])
                store.apply([change(100, "older")])  # re-delivered late: skipped
                store.apply([change(200, "newer")])  # the same change again: idempotent
            assert cache.profile(uid)["name"] == "newer"  # type: ignore[index]
            assert graph.name_by_email(f"{uid}@example.com") == "newer"
            for store in (cache, graph):
                store.apply([change(150, "older again"), change(300, "newest")])
            assert cache.profile(uid)["name"] == "newest"  # type: ignore[index]
            assert graph.name_by_email(f"{uid}@example.com") == "newest"
        finally:
            cache.apply([Change("user", "delete", {"id": uid}, None, 0, f"pg:user:{uid}:d:900", {"lsn": 900})])
            cache.client.delete(f"polydemo:lsn:user:{uid}")
            with graph.driver.session() as s:
                s.run("MATCH (u:User {id: $id}) DETACH DELETE u", id=uid).consume()
