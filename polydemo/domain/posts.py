"""Posts, in the MongoDB-wire store (their system of record).

Two ways for a post's event to reach Kafka:

* ``cdc`` (default): write Mongo only. The relay process tails Mongo's change stream and
  publishes each change to ``<prefix>.social.posts``, storing its resume token after the
  publish is acknowledged: nothing is lost if either side crashes (at-least-once, deduplicated
  downstream by the change's id).
* ``dual-write`` (the hazard, on purpose): write Mongo, then publish to
  ``<prefix>.dualwrite.posts`` from the same process. ``crash_between`` kills the process after
  the Mongo write and before the publish, so the post exists and its event never does.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime, timezone

from polydemo.config import Settings
from polydemo.domain import limits
from polydemo.errors import PolydemoError
from polydemo.stores import mongo


def posts_collection(settings: Settings, client=None):
    client = client or mongo.connect(settings)
    return client[settings.mongo_db]["posts"]


def dualwrite_topic(settings: Settings) -> str:
    return f"{settings.topic_prefix}.dualwrite.posts"


def create_post(settings: Settings, author_id: str, title: str, body: str, tags: list[str] | None = None,
                mode: str = "cdc", crash_between: bool = False, post_id: str | None = None) -> dict:
    if mode not in ("cdc", "dual-write"):
        raise PolydemoError(f"unknown post mode {mode!r}", hint="use cdc or dual-write")
    title, body, tags = limits.check_post(title, body, tags, post_id)
    doc = {
        "_id": post_id or str(uuid.uuid4()),
        "author_id": author_id,
        "title": title,
        "body": body,
        "tags": sorted(set(tags or [])),
        "meta": {"likes": 0},
        "created_at": datetime.now(timezone.utc),
    }
    client = mongo.connect(settings)
    try:
        posts_collection(settings, client).insert_one(doc)
    finally:
        client.close()
    if mode == "dual-write":
        if crash_between:
            # The fault the dual-write scenario injects: the process dies between the two writes.
            os._exit(70)
        _publish_dualwrite(settings, doc)
    return doc


def _publish_dualwrite(settings: Settings, doc: dict) -> None:
    from confluent_kafka import Producer

    from polydemo.stores import kafka

    producer = Producer(kafka.client_config(settings, **{"linger.ms": 0, "acks": "all"}))
    payload = {"op": "insert", "post_id": doc["_id"], "author_id": doc["author_id"], "title": doc["title"],
               "likes": 0, "ts_ms": int(time.time() * 1000), "via": "dual-write"}
    producer.produce(dualwrite_topic(settings), key=doc["_id"], value=json.dumps(payload))
    if producer.flush(10) != 0:
        raise PolydemoError("the post was saved in Mongo but its event was not published (Kafka did not answer)",
                            hint="this is the dual-write hazard: use the default cdc mode")


def like_post(settings: Settings, post_id: str, by: int = 1) -> dict:
    client = mongo.connect(settings)
    try:
        from pymongo import ReturnDocument

        doc = posts_collection(settings, client).find_one_and_update(
            {"_id": post_id}, {"$inc": {"meta.likes": by}}, return_document=ReturnDocument.AFTER)
    finally:
        client.close()
    if doc is None:
        raise PolydemoError(f"no post {post_id}", hint="list posts with `polydemo snapshot`")
    return doc
