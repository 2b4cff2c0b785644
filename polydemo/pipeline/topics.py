"""Every topic polydemo uses, in one list (``up`` creates them before any consumer starts)."""

from __future__ import annotations

from polydemo.config import Settings
from polydemo.pipeline.dualwrite import dualwrite_topic
from polydemo.pipeline.events import topics
from polydemo.pipeline.loop import dlq_topic
from polydemo.pipeline.outbox import outbox_topic


def all_topics(settings: Settings) -> list[str]:
    return [
        *topics(settings.topic_prefix).values(),
        dualwrite_topic(settings),
        outbox_topic(settings),
        dlq_topic(settings),
    ]


COMPACTED = ("users", "follows")

PARTITIONS = 6
"""Partitions of every keyed topic: the CDC topics (key: the row's primary key), the posts topics (key: the
post id; the relay, the dual writer and Debezium's outbox router all key by it). A key always hashes to the
same partition, so each user's (each post's) changes stay in order; six partitions let up to six projector
instances of one consumer group share the work (``polydemo projector scale``). The DLQ keeps one."""


def topic_partitions(settings: Settings) -> dict[str, int]:
    """How many partitions ``up``/``reset`` create each topic with (an existing topic keeps its count)."""
    return {t: (1 if t == dlq_topic(settings) else PARTITIONS) for t in all_topics(settings)}


def under_partitioned(settings: Settings, counts: dict[str, int]) -> list[str]:
    """The topics (of ``counts``: name -> partitions now) that have fewer partitions than they are made with:
    a stack created before topics were partitioned. Pure."""
    want = topic_partitions(settings)
    return sorted(t for t, n in counts.items() if t in want and n < want[t])


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """The CDC topics are compacted: the latest change per key is kept forever, so a new consumer group
    replaying from offset 0 rebuilds the current state. Debezium runs with ``tombstones.on.delete=false``:
    a delete is a non-null delete event, the newest value for its key, which compaction keeps; with
    tombstones it would eventually drop the key altogether, and a consumer behind the cleaner would see a
    tombstone, which the decoder skips, and miss the delete. Only topics created by ``up``/``reset`` get
    it; an existing topic keeps its configuration (``polydemo reset`` recreates them)."""
    names = topics(settings.topic_prefix)
    out: dict[str, dict[str, str]] = {names[k]: {"cleanup.policy": "compact"} for k in COMPACTED}
    return _with_min_insync(settings, out)


def _with_min_insync(settings: Settings, configs: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Cluster mode: every topic (created with replication factor 3) says min.insync.replicas=2, so an
    acks=all write is acknowledged once two replicas have it and refused (not lost) when only one is left."""
    if not settings.cluster:
        return configs
    return {t: {**configs.get(t, {}), "min.insync.replicas": str(settings.min_insync)} for t in all_topics(settings)}
