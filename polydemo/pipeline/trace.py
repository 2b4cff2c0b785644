"""``polydemo trace``: one write, hop by hop, from the timestamps the pipeline already has.

* the source: Debezium's ``source.ts_ms`` (the Postgres commit time) and ``source.lsn``, or for a post
  the change stream's ``wallTime`` (the Mongo write), both carried in the event;
* the Kafka record timestamp (CreateTime: set by the producer, Connect or the relay, when it sent it);
* what each projector recorded when it applied the change (the ``recent`` ring in its status file,
  ``pipeline/loop.py``): when it consumed the batch and when its store write returned.
  "Visible" is that applied-at time.

Nothing is estimated: a hop nobody recorded is reported as unknown, with the reason.
:func:`build` is pure (tests/unit/test_trace.py); :func:`collect` reads the status files and waits.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from polydemo.config import Settings
from polydemo.pipeline.loop import RECENT, status_file

STORE_OF = {"graph": "Neo4j", "cache": "Redis", "analytics": "time-series"}
# Which projectors consume which entity (pipeline/projectors.py ``sources``); the web view's flows use it too.
CONSUMERS = {
    "user": ("graph", "cache", "analytics"),
    "follow": ("graph", "cache", "analytics"),
    "post": ("analytics",),
}


@dataclass
class Hop:
    name: str  # "postgres commit", "kafka append", "graph consume", "visible in Neo4j", ...
    at_ms: float | None  # epoch ms; None when unknown
    detail: str = ""
    unknown: str | None = None  # why the hop is not known
    after: int | None = None  # the index of the hop this one follows (a projector's consume follows Kafka)

    def as_dict(self, origin: float | None) -> dict:
        d = asdict(self)
        d["ms"] = round(self.at_ms - origin, 1) if self.at_ms is not None and origin is not None else None
        return d


@dataclass
class Trace:
    entity: str  # "user" | "post"
    subject: str  # what was asked for: an email, a post id
    key: str  # the source key (user id, post id)
    event_id: str | None
    op: str | None
    hops: list[Hop] = field(default_factory=list)

    @property
    def origin_ms(self) -> float | None:
        return self.hops[0].at_ms if self.hops else None

    def ms(self, hop: Hop) -> float | None:
        o = self.origin_ms
        return None if hop.at_ms is None or o is None else hop.at_ms - o

    @property
    def complete(self) -> bool:
        return bool(self.hops) and all(h.at_ms is not None for h in self.hops)

    def to_dict(self) -> dict:
        return {
            "entity": self.entity,
            "subject": self.subject,
            "key": self.key,
            "event_id": self.event_id,
            "op": self.op,
            "complete": self.complete,
            "origin_ms": self.origin_ms,
            "hops": [h.as_dict(self.origin_ms) for h in self.hops],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Trace:
        hops = [
            Hop(h["name"], h.get("at_ms"), h.get("detail", ""), h.get("unknown"), h.get("after"))
            for h in d.get("hops", [])
        ]
        return cls(d["entity"], d["subject"], d["key"], d.get("event_id"), d.get("op"), hops)


def _matches(rec: dict, entity: str, key: str) -> bool:
    return rec.get("entity") == entity and str((rec.get("key") or {}).get("id")) == key


def build(entity: str, subject: str, key: str, recents: dict[str, list[dict] | None]) -> Trace:
    """The waterfall of the latest change of ``key`` that any projector recorded (pure).

    ``recents``: per projector, its ring (None when its status file could not be read)."""
    consumers = CONSUMERS[entity]
    mine = {n: [r for r in (recents.get(n) or []) if _matches(r, entity, key)] for n in consumers}
    seen = [r for rs in mine.values() for r in rs]
    if not seen:
        return Trace(entity, subject, key, None, None)
    latest = max(seen, key=lambda r: (r.get("source_ts_ms") or 0, r.get("offset") or 0))
    event_id = latest["event_id"]
    src = "Postgres commit" if entity == "user" else "Mongo write"
    src_detail = f"lsn {latest['lsn']}" if latest.get("lsn") is not None else ""
    where = f"{latest['topic'].split('.', 1)[-1]}[{latest['partition']}]@{latest['offset']}"  # without the prefix
    short = f"offset {latest['offset']}"
    kafka_name = "Kafka append" if entity == "user" else "relay publish → Kafka"
    hops = [
        Hop(
            src,
            latest.get("source_ts_ms"),
            src_detail,
            None if latest.get("source_ts_ms") else "the event carries no source time",
        ),
        Hop(
            kafka_name,
            latest.get("kafka_ts_ms"),
            where,
            None if latest.get("kafka_ts_ms") else "the record has no timestamp",
            0,
        ),
    ]
    for n in consumers:
        rec = next((r for r in reversed(mine[n]) if r.get("event_id") == event_id), None)
        if rec is None:
            why = (
                f"{n}'s status file cannot be read (never started here?)"
                if recents.get(n) is None
                else f"not among the last {RECENT} changes {n} applied (stopped, behind, or long ago)"
            )
            hops += [Hop(f"{n} consume", None, "", why, 1), Hop(f"visible in {STORE_OF[n]}", None, "", why, len(hops))]
            continue
        hops += [
            Hop(f"{n} consume", rec.get("consumed_at_ms"), short if rec["offset"] == latest["offset"] else "", None, 1),
            Hop(f"visible in {STORE_OF[n]}", rec.get("applied_at_ms"), "written", None, len(hops)),
        ]
    return Trace(entity, subject, key, event_id, latest.get("op"), hops)


def read_recent(settings: Settings, name: str) -> list[dict] | None:
    """The ring of projector ``name``: every instance's (``projector scale``), merged; None when none could be
    read."""
    paths = [status_file(settings, name), *sorted(settings.run_dir.glob(f"projector-{name}-*.json"))]
    rings = []
    for path in paths:
        with contextlib.suppress(OSError, ValueError):
            rings.append(list(json.loads(path.read_text()).get("recent") or []))
    if not rings:
        return None
    return [r for ring in rings for r in ring]


Recents = Callable[[Settings, str], list[dict] | None]  # how a projector's ring is read (read_recent)


def collect(
    settings: Settings, entity: str, subject: str, key: str, wait: float = 10.0, recent: Recents = read_recent
) -> Trace:
    """Read the projectors' rings (``recent``, default: their status files) until every hop is known or
    ``wait`` seconds passed."""
    deadline = time.monotonic() + wait
    while True:
        trace = build(entity, subject, key, {n: recent(settings, n) for n in CONSUMERS[entity]})
        if trace.complete or time.monotonic() >= deadline:
            return trace
        time.sleep(0.2)


def trace_user(
    settings: Settings, email_or_id: str, wait: float = 10.0, users: Any = None, recent: Recents = read_recent
) -> Trace:
    """The latest change of a user (by email or id), looked up in Postgres first (through ``users``, a
    ``Users`` gateway, when given: a scenario run passes its own)."""
    from polydemo.errors import PolydemoError
    from polydemo.stores.postgres import Users

    if users is not None:
        row = users.user(email_or_id)
    else:
        with Users(settings) as gateway:
            row = gateway.user(email_or_id)
    if row is None:
        raise PolydemoError(f"no user {email_or_id!r} in Postgres", hint="sign them up first: polydemo signup EMAIL")
    return collect(settings, "user", row.email, row.id, wait, recent)


def trace_post(settings: Settings, post_id: str, wait: float = 10.0, recent: Recents = read_recent) -> Trace:
    """The latest change of a post, through the relay (only the analytics projector consumes posts)."""
    return collect(settings, "post", post_id, post_id, wait, recent)
