"""Each projector's lag: its consumer group's committed offsets against the high watermarks of the
topics it consumes, from the Kafka admin API (``stores.kafka.KafkaAdmin``). Right even while the
projector is dead, because it reads what the group committed, not what the process says."""

from __future__ import annotations

from polydemo.config import Settings
from polydemo.pipeline.events import topics
from polydemo.pipeline.loop import group_id
from polydemo.pipeline.projectors import ALL_PROJECTORS, CORE_PROJECTORS
from polydemo.stores.kafka import KafkaAdmin, PartitionLag

__all__ = ["PartitionLag", "lag_seconds", "projector_lag", "projector_lag_seconds", "projector_partitions"]


def active_projectors(settings: Settings) -> list[str]:
    """The three projectors, and the optional ones whose process is running now."""
    from polydemo.pipeline import workers

    return [*CORE_PROJECTORS, *workers.running_optional(settings)]


def projector_partitions(
    settings: Settings, kafka: KafkaAdmin | None = None, highs: dict | None = None, names: list[str] | None = None
) -> dict[str, list[PartitionLag]]:
    """Per projector (default: :func:`active_projectors`), the lag of each partition it consumes."""
    kafka = kafka or KafkaAdmin(settings)
    if highs is None:
        highs = kafka.high_watermarks(list(topics(settings.topic_prefix).values()))
    return {
        name: kafka.group_lag(group_id(settings, name), ALL_PROJECTORS[name](settings).topics(), highs)
        for name in (names if names is not None else active_projectors(settings))
    }


def progress(settings: Settings, kafka: KafkaAdmin, name: str) -> tuple[int, int]:
    """(committed, high watermark) summed over the partitions projector ``name`` consumes."""
    parts = projector_partitions(settings, kafka, names=[name])[name]
    return sum(max(p.committed or 0, 0) for p in parts), sum(p.high for p in parts)


def projector_lag(settings: Settings, kafka: KafkaAdmin | None = None) -> dict[str, int]:
    """Total lag per projector (messages not yet committed), over the topics it consumes."""
    return {name: sum(p.lag for p in parts) for name, parts in projector_partitions(settings, kafka).items()}


def lag_seconds(kafka: KafkaAdmin, parts: list[PartitionLag], now_ms: float, timeout: float = 0.3) -> float | None:
    """Lag as time: the age of the oldest change not yet committed (the record timestamp of the first
    message after the committed offset, over the lagging partitions). 0 when nothing lags; None when
    that message could not be read in time."""
    lagging = {
        (p.topic, p.partition): (p.committed if p.committed is not None and p.committed >= 0 else 0)
        for p in parts
        if p.lag > 0
    }
    if not lagging:
        return 0.0
    stamps = kafka.record_timestamps(lagging, timeout=timeout)
    if any(ts is None for ts in stamps.values()):
        return None
    return max(0.0, (now_ms - min(ts for ts in stamps.values() if ts is not None)) / 1000)


def projector_lag_seconds(
    settings: Settings, kafka: KafkaAdmin, partitions: dict[str, list[PartitionLag]], now_ms: float
) -> dict[str, float | None]:
    """Per projector, :func:`lag_seconds` (one read per lagging partition; a partition two groups lag on
    is read once per group, because each is behind at its own offset)."""
    return {name: lag_seconds(kafka, parts, now_ms) for name, parts in partitions.items()}
