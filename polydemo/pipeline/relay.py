"""The post relay: Mongo's change stream on ``posts`` -> Kafka ``<prefix>.social.posts``.

The resume token is saved in Mongo (``_polydemo_relay``) only after Kafka acknowledged the
batch, so a crash of the relay, of Kafka or of Mongo re-sends rather than loses. A re-sent change
is not published twice: on every (re)start the relay reads the tail of the topic (at least the
last batch, which is all a re-send can repeat) and skips the changes already there, so each change
is on the topic exactly once; the analytics projector also deduplicates on the change id. This is
the "transactional outbox" guarantee without an outbox table: the change stream is Mongo's own log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from polydemo.config import Settings
from polydemo.pipeline.events import topics
from polydemo.pipeline.loop import one_line
from polydemo.stores import kafka
from polydemo.stores.mongo import Posts

BATCH = 500  # changes per publish + token save; the tail read on restart covers twice that
log = logging.getLogger("polydemo.relay")


def change_to_event(change: dict) -> dict | None:
    """A Kafka payload for one change-stream document (pure; see tests/unit/test_events.py)."""
    op = change.get("operationType")
    if op not in ("insert", "update", "replace", "delete"):
        return None
    doc = change.get("fullDocument") or {}
    post_id = (change.get("documentKey") or {}).get("_id")
    updated = (change.get("updateDescription") or {}).get("updatedFields") or {}
    likes_changed = any(k == "meta.likes" or k == "meta" for k in updated)
    ts = change.get("clusterTime")
    ts_ms = int(ts.time * 1000) if ts is not None and hasattr(ts, "time") else int(time.time() * 1000)
    if change.get("wallTime") is not None:
        with contextlib.suppress(AttributeError):
            ts_ms = int(change["wallTime"].timestamp() * 1000)
    return {
        "op": op,
        "post_id": str(post_id),
        "author_id": doc.get("author_id"),
        "title": doc.get("title"),
        "likes": (doc.get("meta") or {}).get("likes"),
        "likes_changed": likes_changed or op == "replace",
        "ts_ms": ts_ms,
        "event_id": change["_id"]["_data"] if isinstance(change.get("_id"), dict) else str(change.get("_id")),
    }


def run(settings: Settings, stop: threading.Event | None = None) -> None:
    """Relay until ``stop`` is set (``pipeline/process.py`` sets it on SIGTERM/SIGINT)."""
    stop = stop if stop is not None else threading.Event()
    topic = topics(settings.topic_prefix)["posts"]
    producer = Producer(kafka.producer_config(settings, **kafka.KEYED))
    while not stop.is_set():
        try:
            _relay(settings, producer, topic, stop)
        except Exception as exc:  # noqa: BLE001 - Mongo or Kafka down: wait and resume from the saved token
            log.warning("relay: %s; resuming in 1s", one_line(exc))
            stop.wait(1.0)


def published_ids(settings: Settings, topic: str, per_partition: int = 2 * BATCH, timeout: float = 10.0) -> set[str]:
    """The event ids of the last ``per_partition`` messages of each partition of ``topic``."""
    consumer = Consumer(
        kafka.client_config(
            settings, **{"group.id": "polydemo-relay-tail", "enable.auto.commit": False, "enable.partition.eof": True}
        )
    )
    try:
        md = consumer.list_topics(topic, timeout=timeout)
        meta = md.topics.get(topic)
        if meta is None or meta.error is not None:
            return set()
        want: dict[int, int] = {}
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high > low:
                want[p] = high
        if not want:
            return set()
        consumer.assign([TopicPartition(topic, p, max(0, high - per_partition)) for p, high in want.items()])
        ids: set[str] = set()
        deadline = time.monotonic() + timeout
        while want and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is None:
                continue
            err, part, offset = m.error(), m.partition() or 0, m.offset() or 0
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    want.pop(part, None)
                continue
            with contextlib.suppress(ValueError, KeyError, TypeError):  # not ours (a poison test message)
                ids.add(json.loads(m.value() or b"")["event_id"])
            if offset >= want.get(part, 0) - 1:
                want.pop(part, None)
        if want:
            raise RuntimeError(f"could not read the tail of {topic} in {timeout:.0f}s")
        return ids
    finally:
        consumer.close()


def _relay(settings: Settings, producer: Producer, topic: str, stop: threading.Event) -> None:
    with Posts(settings) as posts:
        token = posts.relay_token()
        already = published_ids(settings, topic) if token else set()
        with posts.watch(resume_after=token) as stream:
            log.info(
                "relay: watching %s.posts -> %s%s",
                settings.mongo_db,
                topic,
                f" (resumed; {len(already)} recent event(s) on the topic)" if token else "",
            )
            if not token:
                # Save where the stream starts, so posts written while the relay is down are not skipped.
                posts.save_relay_token(stream.resume_token)
            while not stop.is_set():
                change = stream.try_next()
                if change is None:
                    continue
                batch = [change]
                while len(batch) < BATCH:
                    nxt = stream.try_next()
                    if nxt is None:
                        break
                    batch.append(nxt)
                skipped = 0
                for ch in batch:
                    event = change_to_event(ch)
                    if event is None:
                        continue
                    if event["event_id"] in already:
                        skipped += 1  # published before a crash, its token not saved yet: not again
                        continue
                    producer.produce(topic, key=event["post_id"], value=json.dumps(event, default=str))
                if skipped:
                    log.info("relay: %d change(s) already on the topic, not published again", skipped)
                left = producer.flush(30)
                if left:
                    raise RuntimeError(f"{left} post event(s) not acknowledged by Kafka")
                posts.save_relay_token(stream.resume_token)
