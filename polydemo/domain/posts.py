"""Posts, in the MongoDB-wire store (their system of record). No Kafka here.

A post is a durable write to Mongo (``stores.mongo.Posts``). Its event reaches Kafka through the
change-stream relay (``pipeline/relay.py``), which cannot lose it. The naive alternative, "write
Mongo, then publish", lives in ``pipeline/dualwrite.py``, where the hazard can be shown.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from polydemo.config import Settings
from polydemo.domain import limits
from polydemo.errors import NotFound
from polydemo.stores import borrowed
from polydemo.stores.mongo import Posts


def create_post(
    settings: Settings,
    author_id: str,
    title: str,
    body: str,
    tags: list[str] | None = None,
    post_id: str | None = None,
    posts: Posts | None = None,
) -> dict:
    """Validate and write one post; returns the document as stored."""
    title, body, tags = limits.check_post(title, body, tags, post_id)
    doc = {
        "_id": post_id or str(uuid.uuid4()),
        "author_id": author_id,
        "title": title,
        "body": body,
        "tags": sorted(set(tags)),
        "meta": {"likes": 0},
        "created_at": datetime.now(UTC),
    }
    with borrowed(Posts, settings, posts) as gw:
        gw.insert(doc)
    return doc


def like_post(settings: Settings, post_id: str, by: int = 1, posts: Posts | None = None) -> dict:
    with borrowed(Posts, settings, posts) as gw:
        doc = gw.like(post_id, by)
    if doc is None:
        raise NotFound(f"no post {post_id}", hint="list posts with `polydemo snapshot`")
    return doc
