"""The naive way to publish a post's event, kept on purpose to show its hazard: write Mongo, then publish.

Beside the change-stream relay (``pipeline/relay.py``), which cannot lose an event, this path writes
the post to Mongo and then publishes ``<prefix>.dualwrite.posts`` from the same process. If that
process dies between the two writes, the post exists and its event never will. ``crash_between``
makes it die there (exit status 70), which is what the dual-write scenario shows.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

from confluent_kafka import Producer

from polydemo import procs
from polydemo.config import Settings
from polydemo.domain import posts
from polydemo.errors import ExitStatus, PolydemoError
from polydemo.stores import kafka
from polydemo.stores.mongo import Posts

CRASH_EXIT = int(ExitStatus.INJECTED_CRASH)  # how the injected crash ends the writer (EX_SOFTWARE)


def dualwrite_topic(settings: Settings) -> str:
    return f"{settings.topic_prefix}.dualwrite.posts"


def post_dual_write(
    settings: Settings,
    author_id: str,
    title: str,
    body: str,
    tags: list[str] | None = None,
    post_id: str | None = None,
    crash_between: bool = False,
    posts_gateway: Posts | None = None,
    publisher: Callable[[Settings, dict], None] | None = None,
) -> dict:
    """Write the post to Mongo, then publish its event; with ``crash_between``, die in between.

    ``posts_gateway`` reuses a caller's Mongo connection; ``publisher`` (default :func:`publish`) is the
    second write, passed in by unit tests of the callers."""
    doc = posts.create_post(settings, author_id, title, body, tags, post_id=post_id, posts=posts_gateway)
    if crash_between:
        os._exit(CRASH_EXIT)  # the fault the dual-write scenario injects: no flush, no clean-up
    (publisher or publish)(settings, doc)
    return doc


def publish(settings: Settings, doc: dict) -> None:
    producer = Producer(kafka.producer_config(settings, **kafka.KEYED))
    payload = {
        "op": "insert",
        "post_id": doc["_id"],
        "author_id": doc["author_id"],
        "title": doc["title"],
        "likes": 0,
        "ts_ms": int(time.time() * 1000),
        "via": "dual-write",
    }
    producer.produce(dualwrite_topic(settings), key=doc["_id"], value=json.dumps(payload))
    if producer.flush(10) != 0:
        raise PolydemoError(
            "the post was saved in Mongo but its event was not published (Kafka did not answer)",
            hint="this is the dual-write hazard: use the default cdc mode",
        )


def _crashing_child(
    settings: Settings, author_id: str, title: str, body: str, tags: list[str] | None, post_id: str | None
) -> None:
    post_dual_write(settings, author_id, title, body, tags, post_id=post_id, crash_between=True)


def post_dual_write_crashing(
    settings: Settings,
    author_id: str,
    title: str,
    body: str,
    tags: list[str] | None = None,
    post_id: str | None = None,
    timeout: float = 60.0,
) -> int:
    """Run the crashing dual write in a child process (the crash must not take the caller with it).
    Returns the child's exit status: ``CRASH_EXIT`` when it died where it was meant to."""
    return procs.run_to_its_death(
        _crashing_child, (settings, author_id, title, body, tags, post_id), "dual-write", timeout
    )
