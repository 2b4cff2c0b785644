"""The transactional outbox on the real stack: SIGKILL between the business write and COMMIT loses nothing.

A burst of outbox posts (each its own transaction) from a child process that is SIGKILLed mid-burst:
every committed post has exactly one event on the outbox topic, and no uncommitted one has any.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
import uuid

from confluent_kafka import Consumer, TopicPartition

from polydemo.pipeline import outbox
from polydemo.stores import kafka
from polydemo.stores.kafka import KafkaAdmin, key_text
from polydemo.stores.postgres import Users

from .conftest import wait_for

BURST = 5000  # far more than the writer gets through before it is killed


def _burst_writer(settings, author_id: str, prefix: str) -> None:
    with Users(settings) as users:
        for i in range(BURST):
            outbox.post_via_outbox(
                settings, author_id, f"burst {i}", "", ["burst"], post_id=f"{prefix}-{i:05d}", users=users
            )


def _author(settings) -> str:
    with Users(settings) as users:
        author = users.first_user_id()
    assert author is not None
    return author


def test_outbox_loses_nothing_when_the_writer_is_killed_mid_burst(stack):
    settings = stack
    author = _author(settings)
    prefix = f"obx-{uuid.uuid4().hex[:6]}"
    child = multiprocessing.get_context("spawn").Process(target=_burst_writer, args=(settings, author, prefix))
    child.start()
    with Users(settings) as users:
        assert wait_for(lambda: len(users.outbox_post_ids(f"{prefix}-%")) >= 200, timeout=60), "the burst did not start"
        time.sleep(0.3)  # mid-burst, at no particular statement: before, inside or after a transaction
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        assert child.exitcode == -signal.SIGKILL
        committed = users.outbox_post_ids(f"{prefix}-%")
    assert 200 <= len(committed) < BURST

    # One more, killed deterministically after both INSERTs and before COMMIT.
    crashed = f"{prefix}-crashed"
    assert (
        outbox.post_via_outbox_crashing(settings, author, "killed before commit", post_id=crashed) == outbox.CRASH_EXIT
    )

    topic = outbox.outbox_topic(settings)
    with KafkaAdmin(settings) as admin:
        assert wait_for(lambda: len(admin.key_counts(topic, prefix)) >= len(committed), timeout=60), (
            f"only {len(admin.key_counts(topic, prefix))} of {len(committed)} committed posts were published"
        )
        time.sleep(2)  # a duplicate would arrive right behind
        counts = admin.key_counts(topic, prefix)
    with Users(settings) as users:
        assert users.outbox_post_count(crashed) == 0, "the killed transaction committed"
        # A COMMIT the killed writer had already sent can still land just after the first read: the rows in
        # Postgres, read again now that its backend is long gone, are the committed set to compare with.
        committed = users.outbox_post_ids(f"{prefix}-%")
    print(
        f"\n[outbox] {len(committed)} committed before SIGKILL, {len(counts)} published, crashed id published: "
        f"{crashed in counts}"
    )
    assert set(counts) == committed, (sorted(set(counts) - committed)[:5], sorted(committed - set(counts))[:5])
    assert all(n == 1 for n in counts.values()), {k: n for k, n in counts.items() if n != 1}


def test_outbox_event_is_the_payload_keyed_by_post_id(stack):
    settings = stack
    author = _author(settings)
    post_id = f"obx-one-{uuid.uuid4().hex[:6]}"
    row = outbox.post_via_outbox(settings, author, "one outbox post", "body", ["a"], post_id=post_id)
    topic = outbox.outbox_topic(settings)
    c = Consumer(
        kafka.client_config(settings, **{"group.id": f"t-{uuid.uuid4().hex[:6]}", "enable.auto.commit": False})
    )
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions  # six: keyed by post id
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        found = None
        deadline = time.monotonic() + 30
        while found is None and time.monotonic() < deadline:
            for m in c.consume(200, 1.0):
                if not m.error() and key_text(m.key()) == post_id:  # the JSON converter quotes the key
                    found = m
    finally:
        c.close()
    assert found is not None, "the outbox event never reached the topic"
    value = json.loads(found.value())
    if isinstance(value, str):  # an unexpanded jsonb payload
        value = json.loads(value)
    assert value == outbox.outbox_entry(row)["payload"]
    headers = {k: v.decode() for k, v in found.headers() or []}
    assert headers.get("eventType") == "posted" and "id" in headers
