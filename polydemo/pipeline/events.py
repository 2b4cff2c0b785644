"""Decoding change events (pure functions, tested without servers).

Two sources feed Kafka:

* Debezium (Postgres ``users`` and ``follows``): JSON envelopes ``{before, after, source, op, ts_ms}``
  on ``<prefix>.public.users`` and ``<prefix>.public.follows`` (converter schemas disabled).
* The post relay (Mongo change stream): ``{op, post_id, author_id, title, likes, ts_ms, event_id}``
  on ``<prefix>.social.posts``.

Every decoded change carries an ``event_id`` that is the same when the same source change is
delivered twice (Debezium re-sends after a Connect crash; the relay re-sends after its own):
table + key + WAL position for Postgres, the change-stream token for Mongo.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

OPS = {"c": "create", "r": "create", "u": "update", "d": "delete"}
SKIPPED = {"t": "truncate", "m": "message"}  # Debezium ops that change no row: not projected
POST_OPS = {"insert": "create", "update": "update", "replace": "update", "delete": "delete"}


class PoisonMessage(ValueError):
    """A message that cannot be decoded; it goes to the dead-letter topic with this reason."""


@dataclass(frozen=True)
class Change:
    entity: str  # "user" | "follow" | "post"
    op: str  # "create" | "update" | "delete" (lenient decoding: also "truncate", "message", or the op as sent)
    key: dict
    after: dict | None
    ts_ms: int
    event_id: str
    extra: dict = field(default_factory=dict)
    before: dict | None = None  # a Debezium event's ``before`` row (a delete's key columns; None: not sent)


def topics(prefix: str) -> dict[str, str]:
    return {
        "users": f"{prefix}.public.users",
        "follows": f"{prefix}.public.follows",
        "posts": f"{prefix}.social.posts",
    }


def _json(raw: bytes | str | None, what: str) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PoisonMessage(f"{what} is not JSON: {exc}") from None


def envelope(doc: dict) -> dict:
    """The change event itself, also when the JSON converter embeds its schema (``{schema, payload}``)."""
    if "payload" in doc and "op" not in doc:
        payload = doc["payload"]
        return payload if isinstance(payload, dict) else {}
    return doc


def is_debezium(env: dict) -> bool:
    """Whether an (unwrapped) event is a Debezium change event: it has a ``source`` block and an ``op``."""
    return "source" in env and "op" in env


def decode(prefix: str, topic: str, key: bytes | None, value: bytes | None, strict: bool = True) -> Change | None:
    """A Change, None for a message to skip (tombstone, truncate), or PoisonMessage.

    ``strict=False`` (the dashboard's event feed, which shows every message): any JSON object is a Change: a
    Debezium change event on any topic (``truncate`` and ``message`` too, rows without their key columns), a
    post event on any other topic (the dual writer's and the outbox's, which carry no ``event_id``), with the
    op as sent when it is not one the projectors know. Only a value that is not a JSON object is poison. A
    tombstone is None in both modes."""
    if value is None:
        return None  # tombstone
    payload = _json(value, "value")
    if not isinstance(payload, dict):
        raise PoisonMessage(f"value is a {type(payload).__name__}, not an object")
    names = topics(prefix)
    if not strict:
        env = envelope(payload)
        entity = "follow" if topic == names["follows"] or topic.endswith("follows") else "user"
        return _decode_debezium(entity, env, strict) if is_debezium(env) else _decode_post(env, strict)
    if topic == names["posts"]:
        return _decode_post(payload)
    if topic in (names["users"], names["follows"]):
        return _decode_debezium("user" if topic == names["users"] else "follow", payload)
    raise PoisonMessage(f"no decoder for topic {topic}")


def decode_key(raw: bytes | None) -> Any:
    """A record key: its JSON value (unwrapped from the converter's ``{schema, payload}``), else its text; None
    for no key."""
    if raw is None:
        return None
    try:
        key = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")
    if isinstance(key, dict) and "payload" in key and "schema" in key:
        return key["payload"]
    return key


def _row(env: dict) -> Any:
    """The row a Debezium event is about: ``after``, or ``before`` for a delete."""
    return env.get("after") if env.get("op") != "d" else env.get("before")


def _decode_debezium(entity: str, env: dict, strict: bool = True) -> Change | None:
    env = envelope(env)  # converter with schemas enabled
    op = env.get("op")
    if strict and op in SKIPPED:
        return None  # truncate / message: not projected
    if strict and op not in OPS:
        raise PoisonMessage(f"Debezium envelope without a known op (op={op!r})")
    source = env.get("source") or {}
    row = _row(env)
    if not isinstance(row, dict):
        if strict:
            raise PoisonMessage(f"op {op!r} without a {'before' if op == 'd' else 'after'} row")
        row = {}
    columns = ("id",) if entity == "user" else ("follower_id", "followee_id")
    if strict and any(c not in row for c in columns):
        raise PoisonMessage(
            "users row without id" if entity == "user" else "follows row without follower_id/followee_id"
        )
    key = {c: row[c] for c in columns if c in row}
    ts_ms = int(source.get("ts_ms") or env.get("ts_ms") or 0)
    position = source.get("lsn") if source.get("lsn") is not None else ts_ms
    key_text = ":".join(str(v) for v in key.values())
    before = env.get("before")
    return Change(
        entity=entity,
        op=OPS.get(op) or SKIPPED.get(op) or str(op or "?"),  # type: ignore[arg-type]
        key=key,
        after=env.get("after") if op != "d" else None,
        ts_ms=ts_ms,
        event_id=f"pg:{entity}:{key_text}:{op if op != 'r' else 'c'}:{position}",
        extra={"snapshot": op == "r", "lsn": source.get("lsn")},
        before=before if isinstance(before, dict) else None,
    )


def _decode_post(msg: dict, strict: bool = True) -> Change:
    op = msg.get("op")
    if strict and op not in POST_OPS:
        raise PoisonMessage(f"post event with unknown op {op!r}")
    if strict and (not msg.get("post_id") or not msg.get("event_id")):
        raise PoisonMessage("post event without post_id or event_id")
    return Change(
        entity="post",
        op=POST_OPS.get(op) or str(op or "?"),  # type: ignore[arg-type]
        key={"id": msg.get("post_id")},
        after=msg,
        ts_ms=int(msg.get("ts_ms") or 0),
        event_id=f"mongo:{msg['event_id']}" if msg.get("event_id") else "",
    )


# ---------------------------------------------------------------- the schema a change carries


def row_fields(env: dict) -> list[str]:
    """The columns a Debezium change event carries (its ``after``, or ``before`` for a delete), sorted."""
    row = _row(envelope(env))
    return sorted(row) if isinstance(row, dict) else []


# ---------------------------------------------------------------- analytics mapping


def parse_time(value: Any, fallback_ms: int) -> datetime:
    """Debezium sends timestamptz as ISO-8601 text; fall back to the source commit time."""
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:  # not ISO-8601: the commit time below stands in, as for a missing value
            pass
    if isinstance(value, (int, float)) and value > 0:
        # io.debezium.time.MicroTimestamp (timestamp without time zone) arrives as micros.
        return datetime.fromtimestamp(value / 1_000_000, tz=UTC)
    return datetime.fromtimestamp(fallback_ms / 1000, tz=UTC)


def analytics_events(change: Change) -> list[dict]:
    """The rows the analytics projector writes for one change (time, user_id, event_type, properties, event_id)."""
    after = change.after or {}
    if change.entity == "user":
        if change.op == "create":
            return [
                _ev(
                    parse_time(after.get("created_at"), change.ts_ms),
                    change.key["id"],
                    "signed_up",
                    {"name": after.get("name")},
                    change,
                )
            ]
        if change.op == "update":
            return [
                _ev(
                    parse_time(after.get("updated_at"), change.ts_ms),
                    change.key["id"],
                    "profile_updated",
                    {"name": after.get("name")},
                    change,
                )
            ]
        return [_ev(parse_time(None, change.ts_ms), change.key["id"], "user_deleted", {}, change)]
    if change.entity == "follow":
        props = {"followee_id": change.key["followee_id"]}
        if change.op == "create":
            return [
                _ev(
                    parse_time(after.get("created_at"), change.ts_ms),
                    change.key["follower_id"],
                    "followed",
                    props,
                    change,
                )
            ]
        if change.op == "delete":
            return [_ev(parse_time(None, change.ts_ms), change.key["follower_id"], "unfollowed", props, change)]
        return []
    if change.entity == "post":
        props = {"post_id": change.key["id"], "title": after.get("title"), "likes": after.get("likes")}
        when = parse_time(None, change.ts_ms)
        if change.op == "create":
            return [_ev(when, after.get("author_id"), "posted", props, change)]
        if change.op == "update" and after.get("likes_changed"):
            return [_ev(when, after.get("author_id"), "liked", props, change)]
        return []
    return []


def _ev(time: datetime, user_id: str | None, event_type: str, props: dict, change: Change) -> dict:
    return {
        "time": time,
        "user_id": user_id,
        "event_type": event_type,
        "properties": props,
        "event_id": change.event_id,
    }
