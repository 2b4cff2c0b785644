"""Each projector's lag: its consumer group's committed offsets against the high watermarks of the
topics it consumes, from the Kafka admin API (``stores.kafka.KafkaAdmin``). Right even while the
projector is dead, because it reads what the group committed, not what the process says."""

from __future__ import annotations

from polydemo.config import Settings
from polydemo.pipeline.events import topics
from polydemo.pipeline.projector import group_id
from polydemo.pipeline.projectors import PROJECTORS
from polydemo.stores.kafka import KafkaAdmin, PartitionLag

__all__ = ["PartitionLag", "projector_lag", "projector_partitions"]


def projector_partitions(
    settings: Settings, kafka: KafkaAdmin | None = None, highs: dict | None = None
) -> dict[str, list[PartitionLag]]:
    """Per projector, the lag of each partition it consumes."""
    kafka = kafka or KafkaAdmin(settings)
    if highs is None:
        highs = kafka.high_watermarks(list(topics(settings.topic_prefix).values()))
    return {
        name: kafka.group_lag(group_id(settings, name), cls(settings).topics(), highs)
        for name, cls in PROJECTORS.items()
    }


def projector_lag(settings: Settings, kafka: KafkaAdmin | None = None) -> dict[str, int]:
    """Total lag per projector (messages not yet committed), over the topics it consumes."""
    return {name: sum(p.lag for p in parts) for name, parts in projector_partitions(settings, kafka).items()}
