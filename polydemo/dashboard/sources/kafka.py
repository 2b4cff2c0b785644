"""The Kafka panel: every partition's leader, in-sync replicas and high watermark, the brokers the cluster lists,
and each projector's group: committed offsets, lag (in messages and as time, with its trend over the last
minute), instances and the owner of each partition (``stores.kafka.KafkaAdmin``, ``pipeline.lag``)."""

from __future__ import annotations

import time

from polydemo.dashboard.model import GroupLag, KafkaData, PartLag, TopicHigh
from polydemo.dashboard.sources import TIMEOUT, BaseSource, Frame, default_label

TREND_WINDOW_S = 60.0
TREND_SLOTS = 8  # one sparkline cell per 7.5 s


def lag_trend(hist: list[tuple[float, float]], now: float) -> list[float]:
    """The highest lag seconds in each of TREND_SLOTS slots of the last minute, oldest first (pure)."""
    slot = TREND_WINDOW_S / TREND_SLOTS
    out = [0.0] * TREND_SLOTS
    for t, v in hist:
        i = TREND_SLOTS - 1 - int((now - t) // slot)
        if 0 <= i < TREND_SLOTS:
            out[i] = max(out[i], round(v, 2))
    return out


def partition_owners(members: list) -> dict[tuple[str, int], str]:
    """(topic, partition) -> the instance that owns it (``graph#2``, from the member's client id; its client
    id as it is for a consumer polydemo did not start). Pure: ``members`` are ``stores.kafka.GroupMember``s."""
    from polydemo.pipeline.loop import instance_of

    return {tp: instance_of(m.client_id) or m.client_id or "?" for m in members for tp in m.partitions}


class KafkaSource(BaseSource):
    name = "kafka"
    gateways = ("kafka",)

    def __init__(self, settings, stores, timeout: float = TIMEOUT):
        self.settings, self.stores, self.timeout = settings, stores, timeout
        self.label = default_label("kafka")
        self._topics: list[str] | None = None
        self._lag_hist: dict[str, list[tuple[float, float]]] = {}  # projector -> (epoch s, lag_s), last minute

    def _topic_names(self) -> list[str]:
        if self._topics is None:
            from polydemo.pipeline.topics import all_topics

            self._topics = all_topics(self.settings)
        return self._topics

    def collect(self, frame: Frame) -> KafkaData:
        from polydemo.pipeline import lag, workers
        from polydemo.pipeline.loop import group_id

        kafka = self.stores.kafka
        # One metadata and one offsets request for every partition's leader, ISR and high watermark.
        states, highs, brokers = kafka.cluster_view(self._topic_names(), timeout=self.timeout)
        data = KafkaData(
            partitions=[
                TopicHigh(s.topic, s.partition, highs.get((s.topic, s.partition), 0), s.leader, [*s.isr], [*s.replicas])
                for s in states
            ],
            brokers=sorted(brokers),
        )
        now = time.time()
        partitions = lag.projector_partitions(self.settings, kafka, highs)
        seconds = lag.projector_lag_seconds(self.settings, kafka, partitions, now * 1000)
        members = {group_id(self.settings, p): workers.members(self.settings, p) for p in partitions}
        for projector, rows in partitions.items():
            group = group_id(self.settings, projector)
            owners = partition_owners(members.get(group, []))
            parts = [
                PartLag(
                    r.topic,
                    r.partition,
                    r.committed if r.committed is None or r.committed >= 0 else None,
                    r.high,
                    r.lag,
                    owners.get((r.topic, r.partition)),
                )
                for r in rows
            ]
            data.groups.append(
                GroupLag(
                    projector,
                    group,
                    sum(p.committed or 0 for p in parts),
                    sum(p.lag for p in parts),
                    parts,
                    None if seconds[projector] is None else round(seconds[projector] or 0.0, 2),
                    self._trend(projector, now, seconds[projector]),
                    len(members.get(group, [])),
                )
            )
        return data

    def _trend(self, projector: str, now: float, value: float | None) -> list[float]:
        """Keep the last minute of lag seconds; the trend is the highest of each TREND_S slot (0 if none)."""
        hist = [(t, v) for t, v in self._lag_hist.get(projector, []) if now - t < TREND_WINDOW_S]
        if value is not None:
            hist.append((now, value))
        self._lag_hist[projector] = hist
        return lag_trend(hist, now)
