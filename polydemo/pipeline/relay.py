"""The post relay: Mongo's change stream on ``posts`` -> Kafka ``<prefix>.social.posts``.

The resume token is saved in Mongo (``_polydemo_relay``) only after Kafka acknowledged the
batch, so a crash of the relay or of Kafka re-sends rather than loses (at-least-once); the
analytics projector deduplicates on the change id. This is the "transactional outbox"
guarantee without an outbox table: the change stream is Mongo's own log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from typing import Any

from confluent_kafka import Producer

from polydemo.config import Settings
from polydemo.pipeline.events import topics
from polydemo.pipeline.projector import one_line
from polydemo.stores import kafka, mongo

STATE_COLLECTION = "_polydemo_relay"
log = logging.getLogger("polydemo.relay")


def change_to_event(change: dict) -> dict | None:
    """A Kafka payload for one change-stream document (pure; see tests/unit/test_events.py)."""
    op = change.get("operationType")
    if op not in ("insert", "update", "replace", "delete"):
        return None
    doc = change.get("fullDocument") or {}
    post_id = (change.get("documentKey") or {}).get("_id")
    updated = ((change.get("updateDescription") or {}).get("updatedFields") or {})
    likes_changed = any(k == "meta.likes" or k == "meta" for k in updated)
    ts = change.get("clusterTime")
    ts_ms = int(ts.time * 1000) if ts is not None and hasattr(ts, "time") else int(time.time() * 1000)
    if change.get("wallTime") is not None:
        with contextlib.suppress(AttributeError):
            ts_ms = int(change["wallTime"].timestamp() * 1000)
    return {"op": op, "post_id": str(post_id), "author_id": doc.get("author_id"), "title": doc.get("title"),
            "likes": (doc.get("meta") or {}).get("likes"), "likes_changed": likes_changed or op == "replace",
            "ts_ms": ts_ms,
            "event_id": change["_id"]["_data"] if isinstance(change.get("_id"), dict) else str(change.get("_id"))}


def run(settings: Settings, stop: threading.Event | None = None) -> None:
    """Relay until ``stop`` is set (``pipeline/worker.py`` sets it on SIGTERM/SIGINT)."""
    stop = stop if stop is not None else threading.Event()
    topic = topics(settings.topic_prefix)["posts"]
    producer = Producer(kafka.client_config(settings, **{"linger.ms": 0, "acks": "all",
                                                         "enable.idempotence": True}))
    while not stop.is_set():
        try:
            _relay(settings, producer, topic, stop)
        except Exception as exc:  # noqa: BLE001 - Mongo or Kafka down: wait and resume from the saved token
            log.warning("relay: %s; resuming in 1s", one_line(exc))
            stop.wait(1.0)


def _relay(settings: Settings, producer: Producer, topic: str, stop: threading.Event) -> None:
    client = mongo.connect(settings)
    try:
        db = client[settings.mongo_db]
        state = db[STATE_COLLECTION].find_one({"_id": "posts"}) or {}
        kwargs: dict[str, Any] = {"full_document": "updateLookup", "max_await_time_ms": 100}
        if state.get("token"):
            kwargs["resume_after"] = state["token"]
        with db["posts"].watch(**kwargs) as stream:
            log.info("relay: watching %s.posts -> %s%s", settings.mongo_db, topic,
                     " (resumed)" if state.get("token") else "")
            while not stop.is_set():
                change = stream.try_next()
                if change is None:
                    continue
                batch = [change]
                while len(batch) < 500:
                    nxt = stream.try_next()
                    if nxt is None:
                        break
                    batch.append(nxt)
                for ch in batch:
                    event = change_to_event(ch)
                    if event is not None:
                        producer.produce(topic, key=event["post_id"], value=json.dumps(event, default=str))
                left = producer.flush(30)
                if left:
                    raise RuntimeError(f"{left} post event(s) not acknowledged by Kafka")
                db[STATE_COLLECTION].replace_one({"_id": "posts"}, {"_id": "posts", "token": stream.resume_token},
                                                 upsert=True)
    finally:
        client.close()
