"""Issue 9: a system of record never loses an acknowledged write (kill -9 drills through polydemo's own ops)."""

from __future__ import annotations

import json
import threading
import time
import uuid

from confluent_kafka import Consumer, KafkaError, TopicPartition

from polydemo import stack as stack_lib
from polydemo.domain import posts
from polydemo.pipeline.events import topics
from polydemo.stores import kafka, mongo, postgres, timeseries

from .conftest import wait_for

BURST = 1000
KILL_AT = 300


def _topic_inserts(settings, prefix: str) -> dict[str, int]:
    """post id -> how many insert events for it are on the posts topic (whole topic read)."""
    topic = topics(settings.topic_prefix)["posts"]
    c = Consumer(
        kafka.client_config(
            settings,
            **{
                "group.id": f"durability-{uuid.uuid4().hex[:6]}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            },
        )
    )
    counts: dict[str, int] = {}
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        open_parts = set(parts)
        deadline = time.monotonic() + 30
        while open_parts and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    open_parts.discard(m.partition())
                continue
            ev = json.loads(m.value())
            if ev.get("op") == "insert" and str(ev.get("post_id", "")).startswith(prefix):
                counts[ev["post_id"]] = counts.get(ev["post_id"], 0) + 1
        assert not open_parts, "could not read the whole posts topic in 30 s"
    finally:
        c.close()
    return counts


def _posted_events(settings, prefix: str) -> dict[str, int]:
    with timeseries.connect(settings) as conn:
        rows = conn.execute(
            "SELECT properties->>'post_id', count(*) FROM events WHERE event_type = 'posted' "
            "AND properties->>'post_id' LIKE %s GROUP BY 1",
            (f"{prefix}%",),
        ).fetchall()
    return {r[0]: r[1] for r in rows}


def test_kill9_mongo_during_post_burst_loses_no_acknowledged_post(stack, runtime):
    """SIGKILL the Mongo-wire server while `post` writes; `up`; every acknowledged post is in Mongo,
    on the topic and in the events exactly once."""
    prefix = f"dur{uuid.uuid4().hex[:6]}-"
    with postgres.connect(stack) as conn:
        author_id = str(conn.execute("SELECT id FROM users ORDER BY email LIMIT 1").fetchone()[0])
    acked: list[str] = []
    failed: list[str] = []
    killed = threading.Event()

    def killer() -> None:  # SIGKILL while the writer is mid-burst, not between two calls of ours
        while len(acked) < KILL_AT:
            time.sleep(0.001)
        assert runtime.kill_service("mongo") == "killed"
        killed.set()

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    for i in range(BURST):
        pid = f"{prefix}{i:04d}"
        try:
            posts.create_post(stack, author_id, f"durable {i}", "kill -9 drill", post_id=pid)
            acked.append(pid)
        except Exception as exc:  # noqa: BLE001 - not acknowledged: the server is gone
            failed.append(f"{pid}: {type(exc).__name__}")
            break
    thread.join(10)
    assert killed.is_set() and len(acked) >= KILL_AT, f"only {len(acked)} posts acknowledged before the kill"
    assert failed, "every write was acknowledged: the kill did not happen during the burst"

    t0 = time.monotonic()
    stack_lib.bring_up(runtime)  # `polydemo up`: restarts what is down, leaves the rest
    print(f"\n[durability] {len(acked)} acknowledged before SIGKILL; up again in {time.monotonic() - t0:.1f}s")

    client = mongo.connect(stack)
    try:
        in_mongo = client[stack.mongo_db]["posts"].count_documents({"_id": {"$in": acked}})
    finally:
        client.close()
    assert in_mongo == len(acked), f"{len(acked) - in_mongo} acknowledged post(s) lost by Mongo"

    on_topic, _ = wait_for(
        lambda: (lambda c: c if len(c) >= len(acked) else None)(_topic_inserts(stack, prefix)),
        timeout=60,
        interval=1.0,
        what="every acknowledged post on the posts topic",
    )
    assert set(acked) <= set(on_topic), f"missing on the topic: {sorted(set(acked) - set(on_topic))[:5]}"
    dupes = {k: v for k, v in on_topic.items() if v != 1}
    assert not dupes, f"published more than once: {list(dupes.items())[:5]}"

    events, _ = wait_for(
        lambda: (lambda e: e if len(e) >= len(acked) else None)(_posted_events(stack, prefix)),
        timeout=60,
        interval=1.0,
        what="every acknowledged post in the events store",
    )
    assert set(acked) <= set(events)
    assert all(v == 1 for v in events.values()), "a post counted twice in the events store"
    print(
        f"[durability] {len(acked)} acknowledged, {len(acked)} in Mongo, {len(on_topic)} on the topic "
        f"(each once), {len(events)} posted events (each once)"
    )
