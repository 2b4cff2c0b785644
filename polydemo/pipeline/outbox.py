"""The transactional outbox: the third way to publish a post's event (docs/scenarios.md, "Three stories": outbox).

The post is a row in Postgres (``user_posts``, the business write) and its event a row in ``outbox``,
written in **one transaction** through the :class:`~polydemo.stores.postgres.Users` gateway. Debezium
reads the outbox from the users connector's slot, and its outbox event router (``EventRouter`` SMT, limited
to the outbox table by a predicate; ``stack/connect/polydemo-users.json``) publishes each committed row
once to ``<prefix>.outbox.posts``, keyed by the post id. There is no "between the two writes" that
loses anything: a writer killed before COMMIT leaves neither row, so there is nothing to publish, and a
committed outbox row is in the WAL, which the slot keeps until Connect has sent it.

``crash_before_commit`` makes the writer SIGKILL itself after both INSERTs and before COMMIT, the same
fault the dual write's ``crash_between`` injects; :func:`post_via_outbox_crashing` runs it in a child.
"""

from __future__ import annotations

import os
import signal
import uuid
from datetime import UTC, datetime

from polydemo import procs
from polydemo.config import Settings
from polydemo.domain import limits
from polydemo.stores import borrowed
from polydemo.stores.postgres import Users

AGGREGATE_TYPE = "posts"  # routes to <prefix>.outbox.posts (route.by.field = aggregatetype)
EVENT_TYPE = "posted"
CRASH_SIGNAL = signal.SIGKILL
CRASH_EXIT = -int(CRASH_SIGNAL)  # a multiprocessing child killed by SIGKILL exits with -9


def outbox_topic(settings: Settings) -> str:
    """The topic the event router writes: ``route.topic.replacement`` with ``aggregatetype`` = posts."""
    return f"{settings.topic_prefix}.outbox.{AGGREGATE_TYPE}"


def post_row(author_id: str, title: str, body: str, tags: list[str] | None, post_id: str | None) -> dict:
    """The business row for ``user_posts``, validated by the same limits as a Mongo post."""
    title, body, tags = limits.check_post(title, body, tags, post_id)
    return {
        "id": post_id or str(uuid.uuid4()),
        "author_id": author_id,
        "title": title,
        "body": body,
        "tags": sorted(set(tags)),
        "created_at": datetime.now(UTC),
    }


def outbox_entry(row: dict, event_id: str | None = None) -> dict:
    """The outbox row (Debezium's columns) for a post row: pure, so the unit tests pin its shape.

    ``aggregateid`` becomes the Kafka key and ``payload`` the value; the body is not in the event
    (like the relay's events, it carries what consumers need, not the whole document)."""
    return {
        "id": event_id or str(uuid.uuid4()),
        "aggregatetype": AGGREGATE_TYPE,
        "aggregateid": row["id"],
        "type": EVENT_TYPE,
        "payload": {
            "op": "insert",
            "post_id": row["id"],
            "author_id": row["author_id"],
            "title": row["title"],
            "tags": list(row["tags"]),
            "likes": 0,
            "ts_ms": int(row["created_at"].timestamp() * 1000),
            "via": "outbox",
        },
    }


def post_via_outbox(
    settings: Settings,
    author_id: str,
    title: str,
    body: str = "",
    tags: list[str] | None = None,
    post_id: str | None = None,
    crash_before_commit: bool = False,
    users: Users | None = None,
) -> dict:
    """The post and its outbox entry in one Postgres transaction; returns the post row.

    With ``crash_before_commit`` the process SIGKILLs itself after both INSERTs, before COMMIT."""
    row = post_row(author_id, title, body, tags, post_id)
    entry = outbox_entry(row)

    def _die() -> None:
        os.kill(os.getpid(), CRASH_SIGNAL)  # the fault the outbox story injects: no COMMIT, no clean-up

    with borrowed(Users, settings, users) as gw:
        gw.insert_post_with_outbox(row, entry, before_commit=_die if crash_before_commit else None)
    return row


def _crashing_child(
    settings: Settings, author_id: str, title: str, body: str, tags: list[str] | None, post_id: str | None
) -> None:
    post_via_outbox(settings, author_id, title, body, tags, post_id=post_id, crash_before_commit=True)


def post_via_outbox_crashing(
    settings: Settings,
    author_id: str,
    title: str,
    body: str = "",
    tags: list[str] | None = None,
    post_id: str | None = None,
    timeout: float = 60.0,
) -> int:
    """Run the crashing outbox write in a child process; returns its exit code (``CRASH_EXIT`` when it
    was killed where it was meant to be)."""
    return procs.run_to_its_death(_crashing_child, (settings, author_id, title, body, tags, post_id), "outbox", timeout)
