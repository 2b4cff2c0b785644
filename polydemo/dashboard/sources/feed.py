"""The event feed: the last messages across the polydemo topics, read from the tail of each partition whose end
moved (``KafkaAdmin.read_tails``), each told by the pipeline's decoder (``pipeline.events.decode``)."""

from __future__ import annotations

import json
from typing import Any

from polydemo.dashboard.model import FeedItem
from polydemo.dashboard.sources import BaseSource, Frame
from polydemo.pipeline.events import Change, PoisonMessage, decode, decode_key

FEED_SIZE = 10  # event feed: messages kept per partition and shown in all
FEED_READ_S = 0.3  # at most this long reading the tail of the topics for the feed


class FeedSource(BaseSource):
    name = "feed"
    needs = ("kafka",)  # the high watermarks of this frame
    gateways = ("kafka",)

    def __init__(self, settings, stores, size: int = FEED_SIZE):
        self.settings, self.stores, self.size = settings, stores, size
        self._tails: dict[tuple[str, int], list[FeedItem]] = {}
        self._highs: dict[tuple[str, int], int] = {}  # the high watermark each tail was read up to

    def collect(self, frame: Frame) -> list[FeedItem] | None:
        """None (the frame keeps the last feed) when Kafka did not answer in this frame."""
        kd = frame.upstream("kafka")
        if kd is None:
            return None
        n = self.size
        changed = {
            (p.topic, p.partition): p.high for p in kd.partitions if self._highs.get((p.topic, p.partition)) != p.high
        }
        to_read = {tp: high for tp, high in changed.items() if high > 0}
        got, unfinished = self.stores.kafka.read_tails(to_read, n, budget=FEED_READ_S) if to_read else ({}, set())
        for tp, high in changed.items():
            if tp in unfinished:
                continue  # not read to the end in time: try again next frame
            self._tails[tp] = [feed_item(self.settings.topic_prefix, m) for m in got.get(tp, [])[-n:]]
            self._highs[tp] = high
        items = [i for tail in self._tails.values() for i in tail]
        items.sort(key=lambda i: (i.ts_ms, i.offset), reverse=True)
        return items[:n]


def feed_item(prefix: str, m) -> FeedItem:
    """One message (a confluent-kafka Message) as a line of the feed."""
    topic = m.topic().removeprefix(prefix + ".")
    _, ts = m.timestamp()
    op, detail = summary(prefix, m.topic(), topic, m.value(), m.headers())
    return FeedItem(topic, m.partition(), m.offset(), key_label(m.key()), op, detail, int(ts) if ts and ts > 0 else 0)


def _short_id(value: Any) -> str:
    text = str(value)
    return text[:8] if len(text) >= 32 else text


def key_label(raw: bytes | None) -> str:
    """A record key in short ids: ``6f31eae1``, ``fdac7bfb→ef1768a2`` (a follow), ``-`` for none."""
    if raw is None:
        return "-"
    key = decode_key(raw)
    if isinstance(key, dict):
        if "follower_id" in key and "followee_id" in key:
            return f"{_short_id(key['follower_id'])}→{_short_id(key['followee_id'])}"
        if "id" in key:
            return _short_id(key["id"])
        return ",".join(_short_id(v) for v in key.values())[:24]
    return _short_id(key)


DBZ_OPS = {"create": "insert", "update": "update", "delete": "delete", "truncate": "truncate"}


def summary(prefix: str, full_topic: str, topic: str, raw: bytes | None, headers) -> tuple[str, str]:
    """(op, detail) of one message for the feed: ``insert``/``update``/``delete``/``snapshot`` and the user's name
    for a users change event, ``follow``/``unfollow`` for a follows one, the post event's op (``like`` for a like)
    and the title, a dead letter's reason, ``tombstone``; ``?`` for what is not a change event."""
    if raw is None:
        return "tombstone", ""
    if topic == "dlq":
        reason = dict(headers or []).get("dlq.reason", b"")
        return "dead letter", reason.decode("utf-8", "replace")[:80]
    try:
        change = decode(prefix, full_topic, None, raw, strict=False)
    except PoisonMessage:
        return "?", _not_a_change(raw)
    assert change is not None  # only a tombstone decodes to None, and that was told above
    return _told(change, topic)


def _told(change: Change, topic: str) -> tuple[str, str]:
    if change.entity == "post":
        event = change.after or {}
        op, title = str(event.get("op", "?")), str(event.get("title") or "")
        if op == "update" and event.get("likes_changed"):
            return "like", f"♥{event.get('likes')} {title}".strip()
        return op, title
    op = "snapshot" if change.extra.get("snapshot") else DBZ_OPS.get(change.op, change.op)
    if topic.endswith("follows"):
        return {"insert": "follow", "snapshot": "follow", "delete": "unfollow"}.get(op, op), ""
    row = change.after or change.before or {}
    return op, str(row.get("name") or row.get("email") or "")


def _not_a_change(raw: bytes) -> str:
    try:
        return type(json.loads(raw)).__name__  # JSON, but not an object
    except (ValueError, UnicodeDecodeError):
        return f"{len(raw)} bytes, not JSON"
