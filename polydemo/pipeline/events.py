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


class PoisonMessage(ValueError):
    """A message that cannot be decoded; it goes to the dead-letter topic with this reason."""


@dataclass(frozen=True)
class Change:
    entity: str  # "user" | "follow" | "post"
    op: str  # "create" | "update" | "delete"
    key: dict
    after: dict | None
    ts_ms: int
    event_id: str
    extra: dict = field(default_factory=dict)


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


def decode(prefix: str, topic: str, key: bytes | None, value: bytes | None) -> Change | None:
    """A Change, None for a message to skip (tombstone, truncate), or PoisonMessage."""
    names = topics(prefix)
    if value is None:
        return None  # tombstone
    payload = _json(value, "value")
    if not isinstance(payload, dict):
        raise PoisonMessage(f"value is a {type(payload).__name__}, not an object")
    if topic == names["posts"]:
        return _decode_post(payload)
    if topic in (names["users"], names["follows"]):
        return _decode_debezium("user" if topic == names["users"] else "follow", payload)
    raise PoisonMessage(f"no decoder for topic {topic}")


def _decode_debezium(entity: str, env: dict) -> Change | None:
    if "payload" in env and "op" not in env:  # converter with schemas enabled
        env = env["payload"] or {}
    op = env.get("op")
    if op == "t" or op == "m":
        return None  # truncate / message: not projected
    if op not in OPS:
        raise PoisonMessage(f"Debezium envelope without a known op (op={op!r})")
    source = env.get("source") or {}
    row = env.get("after") if op != "d" else env.get("before")
    if not isinstance(row, dict):
        raise PoisonMessage(f"op {op!r} without a {'before' if op == 'd' else 'after'} row")
    if entity == "user":
        if "id" not in row:
            raise PoisonMessage("users row without id")
        key = {"id": row["id"]}
    else:
        if "follower_id" not in row or "followee_id" not in row:
            raise PoisonMessage("follows row without follower_id/followee_id")
        key = {"follower_id": row["follower_id"], "followee_id": row["followee_id"]}
    ts_ms = int(source.get("ts_ms") or env.get("ts_ms") or 0)
    position = source.get("lsn") if source.get("lsn") is not None else ts_ms
    key_text = ":".join(str(v) for v in key.values())
    return Change(
        entity=entity,
        op=OPS[op],
        key=key,
        after=env.get("after") if op != "d" else None,
        ts_ms=ts_ms,
        event_id=f"pg:{entity}:{key_text}:{op if op != 'r' else 'c'}:{position}",
        extra={"snapshot": op == "r", "lsn": source.get("lsn")},
    )


def _decode_post(msg: dict) -> Change:
    op = msg.get("op")
    if op not in ("insert", "update", "replace", "delete"):
        raise PoisonMessage(f"post event with unknown op {op!r}")
    if not msg.get("post_id") or not msg.get("event_id"):
        raise PoisonMessage("post event without post_id or event_id")
    mapped = {"insert": "create", "update": "update", "replace": "update", "delete": "delete"}[op]
    return Change(
        entity="post",
        op=mapped,
        key={"id": msg["post_id"]},
        after=msg,
        ts_ms=int(msg.get("ts_ms") or 0),
        event_id=f"mongo:{msg['event_id']}",
    )


# ---------------------------------------------------------------- the schema a change carries


def row_fields(env: dict) -> list[str]:
    """The columns a Debezium change event carries (its ``after``, or ``before`` for a delete), sorted."""
    if "payload" in env and "op" not in env:
        env = env["payload"] or {}
    row = env.get("after") if env.get("op") != "d" else env.get("before")
    return sorted(row) if isinstance(row, dict) else []


# ---------------------------------------------------------------- analytics mapping


def parse_time(value: Any, fallback_ms: int) -> datetime:
    """Debezium sends timestamptz as ISO-8601 text; fall back to the source commit time."""
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
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
