"""Offsets and lag from the Kafka admin API (no shelling out): high watermarks and committed offsets."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import OffsetSpec

from polydemo.config import Settings
from polydemo.pipeline.events import topics
from polydemo.pipeline.projector import group_id
from polydemo.pipeline.projectors import PROJECTORS
from polydemo.stores import kafka


@dataclass
class PartitionLag:
    topic: str
    partition: int
    high: int
    committed: int | None

    @property
    def lag(self) -> int:
        return self.high - (self.committed or 0) if self.committed is not None and self.committed >= 0 else self.high


def high_watermarks(settings: Settings, admin=None, topic_names: list[str] | None = None,
                    timeout: float = 3.0) -> dict[tuple[str, int], int]:
    admin = admin if admin is not None else kafka.admin(settings)  # AdminClient is falsy
    md = admin.list_topics(timeout=timeout)
    names = topic_names or [t for t in md.topics if not t.startswith("__")]
    req = {TopicPartition(t, p): OffsetSpec.latest() for t in names if t in md.topics
           for p in md.topics[t].partitions}
    if not req:
        return {}
    out = {}
    for tp, fut in admin.list_offsets(req, request_timeout=timeout).items():
        out[(tp.topic, tp.partition)] = fut.result().offset
    return out


def committed(settings: Settings, group: str, admin=None, timeout: float = 3.0) -> dict[tuple[str, int], int]:
    admin = admin if admin is not None else kafka.admin(settings)  # AdminClient is falsy
    futs = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=timeout)
    res = futs[group].result()
    return {(tp.topic, tp.partition): tp.offset for tp in res.topic_partitions or []}


def group_lag(settings: Settings, group: str, group_topics: list[str], admin=None,
              highs: dict | None = None) -> list[PartitionLag]:
    admin = admin if admin is not None else kafka.admin(settings)  # AdminClient is falsy
    highs = highs if highs is not None else high_watermarks(settings, admin, group_topics)
    done = committed(settings, group, admin)
    return [PartitionLag(t, p, h, done.get((t, p))) for (t, p), h in sorted(highs.items()) if t in group_topics]


def projector_lag(settings: Settings, admin=None) -> dict[str, int]:
    """Total lag per projector (messages not yet committed), over the topics it consumes."""
    admin = admin if admin is not None else kafka.admin(settings)  # AdminClient is falsy
    names = list(topics(settings.topic_prefix).values())
    highs = high_watermarks(settings, admin, names)
    out = {}
    for name, cls in PROJECTORS.items():
        wanted = cls(settings).topics()
        out[name] = sum(p.lag for p in group_lag(settings, group_id(settings, name), wanted, admin, highs))
    return out
