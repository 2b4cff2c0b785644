"""Apache Kafka: topics, offsets and consumer-group positions through the admin API (never by shelling out).

:class:`KafkaAdmin` is the gateway: one AdminClient, topic creation and recreation, consumer groups,
high watermarks and committed offsets, and reading a topic (counting a key, the tail). What a
projector's lag *is* (which topics, which group) is the pipeline's business (``pipeline/lag.py``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from polydemo.config import Settings
from polydemo.stores import Gateway, Health

SERVICE = "kafka"
log = logging.getLogger(__name__)

# librdkafka logs every failed connection attempt; while a broker is (deliberately) down in a
# drill that chatter would scroll the dashboard away, so it goes to a logger that drops it.
_QUIET = logging.getLogger("polydemo.librdkafka")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def client_config(settings: Settings, **extra) -> dict:
    return {"bootstrap.servers": settings.kafka_bootstrap, "socket.timeout.ms": 3000, "logger": _QUIET, **extra}


def producer_config(settings: Settings, **extra) -> dict:
    """Every polydemo producer: acknowledged by all in-sync replicas (``min.insync.replicas`` of them, 2 of 3
    in cluster mode) and idempotent, so a retry after a leader change never writes a message twice."""
    return client_config(
        settings,
        **{"linger.ms": 0, "acks": "all", "enable.idempotence": True, "topic.metadata.refresh.interval.ms": 5000},
        **extra,
    )


def admin(settings: Settings) -> AdminClient:
    return AdminClient(client_config(settings))


def broker_health(settings: Settings, node_id: int) -> Health:
    """One broker of a cluster: it answers on its own port and the cluster's metadata lists it (registered
    with the controller quorum and not fenced)."""
    try:
        one = AdminClient(
            {**client_config(settings), "bootstrap.servers": f"{settings.host}:{settings.broker_port(node_id)}"}
        )
        md = one.list_topics(timeout=2)
        if node_id not in md.brokers:
            return Health(False, f"broker {node_id} not in the cluster metadata yet")
        return Health(True, f"broker {node_id} of {len(md.brokers)} up ({len(md.topics)} topics)")
    except Exception as exc:  # noqa: BLE001 - health never raises: a down store is an answer
        return Health.down(exc)


def health(settings: Settings) -> Health:
    try:
        md = admin(settings).list_topics(timeout=2)
        if not md.brokers:
            return Health(False, "no broker in metadata")
        return Health(True, f"metadata ok ({len(md.brokers)} broker, {len(md.topics)} topics)")
    except Exception as exc:  # noqa: BLE001 - health never raises: a down store is an answer
        return Health.down(exc)


def key_text(raw: bytes | None) -> str:
    """A record key as text: Connect's JSON converter writes a string key with its quotes (``"id"``)."""
    text = (raw or b"").decode("utf-8", "replace")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            value = json.loads(text)
        except ValueError:
            return text
        return value if isinstance(value, str) else text
    return text


@dataclass
class PartitionLag:
    topic: str
    partition: int
    high: int
    committed: int | None

    @property
    def lag(self) -> int:
        return self.high - (self.committed or 0) if self.committed is not None and self.committed >= 0 else self.high


@dataclass(frozen=True)
class PartitionState:
    """One partition as the cluster metadata has it: its leader (-1 when none), replicas and in-sync ones."""

    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


def _already_exists(exc: BaseException) -> bool:
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return getattr(err, "code", lambda: None)() == KafkaError.TOPIC_ALREADY_EXISTS or "TOPIC_ALREADY_EXISTS" in str(exc)


class KafkaAdmin(Gateway[AdminClient]):
    """The Kafka gateway (admin API + short-lived consumers for reading a topic)."""

    service = SERVICE

    def _connect(self) -> AdminClient:
        return admin(self.settings)

    _reader: Consumer | None = None

    def close(self) -> None:
        self._client = None  # an AdminClient has no close(); dropping it ends its threads
        reader, self._reader = self._reader, None
        if reader is not None:
            with contextlib.suppress(KafkaException, RuntimeError):
                reader.close()

    # ------------------------------------------------------------ topics
    def topic_names(self, timeout: float = 5.0) -> set[str]:
        return set(self.client.list_topics(timeout=timeout).topics)

    def ensure_topics(
        self,
        names: list[str],
        partitions: int = 1,
        timeout: float = 10.0,
        configs: dict[str, dict[str, str]] | None = None,
    ) -> list[str]:
        """Create the topics that do not exist yet (so consumers never start on a missing one); returns those made.
        ``configs``: topic-level settings per topic (``cleanup.policy=compact``), applied only at creation: a
        topic that exists keeps its configuration."""
        missing = [n for n in names if n not in self.topic_names(timeout)]
        if not missing:
            return []
        futures = self.client.create_topics(
            [
                NewTopic(n, partitions, self.settings.replication_factor, config=(configs or {}).get(n, {}))
                for n in missing
            ],
            request_timeout=timeout,
        )
        for fut in futures.values():
            try:
                fut.result()
            except KafkaException as exc:  # created meanwhile by someone else is fine
                if not _already_exists(exc):
                    raise
        return missing

    def recreate_topics(
        self, names: list[str], timeout: float = 60.0, configs: dict[str, dict[str, str]] | None = None
    ) -> None:
        """Delete these topics (where they exist) and create them empty again (with ``configs``, as above)."""
        doomed = [n for n in names if n in self.topic_names(10)]
        if doomed:
            for fut in self.client.delete_topics(doomed, operation_timeout=30).values():
                fut.result()
        deadline = time.monotonic() + timeout
        while True:
            try:
                rf = self.settings.replication_factor
                made = [NewTopic(n, 1, rf, config=(configs or {}).get(n, {})) for n in names]
                for fut in self.client.create_topics(made, request_timeout=10).values():
                    fut.result()
                return
            except KafkaException as exc:  # "marked for deletion" for a moment after the delete
                if _already_exists(exc) and set(names) <= self.topic_names(10):
                    return
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def partition_states(self, topics: list[str], timeout: float = 3.0) -> list[PartitionState]:
        """Leader, replicas and ISR of every partition of these topics (those that exist), in order."""
        md = self.client.list_topics(timeout=timeout)
        out = []
        for name in topics:
            t = md.topics.get(name)
            if t is None:
                continue
            for pid in sorted(t.partitions):
                p = t.partitions[pid]
                out.append(PartitionState(name, pid, p.leader, tuple(p.replicas), tuple(p.isrs)))
        return out

    def live_brokers(self, timeout: float = 3.0) -> set[int]:
        """The ids of the brokers the cluster metadata lists (registered and not fenced)."""
        return set(self.client.list_topics(timeout=timeout).brokers)

    def topic_config(self, topic: str, timeout: float = 5.0) -> dict[str, str]:
        """A topic's effective configuration (``cleanup.policy`` and the rest)."""
        from confluent_kafka.admin import ConfigResource

        res = ConfigResource(ConfigResource.Type.TOPIC, topic)
        entries = self.client.describe_configs([res], request_timeout=timeout)[res].result()
        return {k: v.value for k, v in entries.items()}

    def delete_groups(self, groups: list[str]) -> list[str]:
        """Delete consumer groups; returns those deleted (a group that never committed does not exist)."""
        deleted = []
        for group, fut in self.client.delete_consumer_groups(groups, request_timeout=10).items():
            try:
                fut.result()
                deleted.append(group)
            except KafkaException as exc:
                log.debug("consumer group %s not deleted: %s", group, exc)
        return deleted

    # ------------------------------------------------------------ offsets
    def high_watermarks(self, topic_names: list[str] | None = None, timeout: float = 3.0) -> dict[tuple[str, int], int]:
        md = self.client.list_topics(timeout=timeout)
        names = topic_names or [t for t in md.topics if not t.startswith("__")]
        req = {
            TopicPartition(t, p): OffsetSpec.latest() for t in names if t in md.topics for p in md.topics[t].partitions
        }
        if not req:
            return {}
        return {
            (tp.topic, tp.partition): fut.result().offset
            for tp, fut in self.client.list_offsets(req, request_timeout=timeout).items()
        }

    def committed(self, group: str, timeout: float = 3.0) -> dict[tuple[str, int], int]:
        futs = self.client.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=timeout)
        res = futs[group].result()
        return {(tp.topic, tp.partition): tp.offset for tp in res.topic_partitions or []}

    def group_lag(self, group: str, group_topics: list[str], highs: dict | None = None) -> list[PartitionLag]:
        highs = highs if highs is not None else self.high_watermarks(group_topics)
        done = self.committed(group)
        return [PartitionLag(t, p, h, done.get((t, p))) for (t, p), h in sorted(highs.items()) if t in group_topics]

    # ------------------------------------------------------------ reading a topic
    def record_timestamps(
        self, positions: dict[tuple[str, int], int], timeout: float = 0.3
    ) -> dict[tuple[str, int], int | None]:
        """The record timestamp (ms) of the first message at or after each (topic, partition) offset: one
        message per partition, read by one assign-only consumer kept between calls (it never joins a
        group or commits). None where nothing arrived within ``timeout`` seconds."""
        out: dict[tuple[str, int], int | None] = dict.fromkeys(positions)
        if not positions:
            return out
        if self._reader is None:
            self._reader = Consumer(
                client_config(
                    self.settings,
                    **{
                        "group.id": f"{self.settings.topic_prefix}-lag-reader",
                        "enable.auto.commit": False,
                        "enable.auto.offset.store": False,
                        "auto.offset.reset": "earliest",
                        "fetch.wait.max.ms": 10,
                    },
                )
            )
        reader = self._reader
        reader.assign([TopicPartition(t, p, max(0, off)) for (t, p), off in positions.items()])
        want = set(positions)
        end = time.monotonic() + timeout
        try:
            while want and time.monotonic() < end:
                for m in reader.consume(num_messages=50, timeout=max(0.0, min(0.05, end - time.monotonic()))):
                    tp = (m.topic() or "", m.partition() or 0)
                    if m.error() or tp not in want:
                        continue
                    want.discard(tp)  # the rest of that partition's fetch is ignored
                    _, ts = m.timestamp()
                    out[tp] = int(ts) if ts and ts > 0 else None
        finally:
            reader.unassign()
        return out

    def key_counts(self, topic: str, key_prefix: str = "", timeout: float = 5.0) -> dict[str, int]:
        """How many messages each key (starting with ``key_prefix``) has on partition 0 of ``topic``."""
        c = Consumer(
            client_config(
                self.settings, **{"group.id": f"polydemo-probe-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
            )
        )
        out: dict[str, int] = {}
        try:
            low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout)
            if high <= low:
                return out
            c.assign([TopicPartition(topic, 0, low)])
            pos = low
            while pos < high:
                msgs = c.consume(num_messages=500, timeout=2.0)
                if not msgs:
                    break
                for m in msgs:
                    if m.error():
                        continue
                    pos = (m.offset() or 0) + 1
                    key = key_text(m.key())
                    if key.startswith(key_prefix):
                        out[key] = out.get(key, 0) + 1
            return out
        finally:
            c.close()

    def count_key(self, topic: str, key: str | None = None, timeout: float = 5.0) -> int:
        """Messages on partition 0 of ``topic`` (with ``key``, only those)."""
        c = Consumer(
            client_config(
                self.settings, **{"group.id": f"polydemo-probe-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
            )
        )
        try:
            low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout)
            if high <= low:
                return 0
            c.assign([TopicPartition(topic, 0, low)])
            n, pos = 0, low
            while pos < high:
                m = c.poll(2.0)
                if m is None:
                    break
                if m.error():
                    continue
                pos = (m.offset() or 0) + 1
                if key is None or key_text(m.key()) == key:
                    n += 1
            return n
        finally:
            c.close()

    def _scan(self, topic: str, start: int | None, timeout: float) -> list:
        """Partition 0 of ``topic`` from offset ``start`` (None: the beginning) to its high watermark."""
        c = Consumer(
            client_config(
                self.settings, **{"group.id": f"polydemo-probe-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
            )
        )
        try:
            low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout)
            begin = low if start is None else max(low, start)
            if high <= begin:
                return []
            c.assign([TopicPartition(topic, 0, begin)])
            out, pos = [], begin
            while pos < high:
                m = c.poll(2.0)
                if m is None:
                    break
                if m.error():
                    continue
                pos = (m.offset() or 0) + 1
                out.append(m)
            return out
        finally:
            c.close()

    def dlq_count(self, topic: str, reason: str | None = None, since_ms: int = 0, timeout: float = 5.0) -> int:
        """Dead-lettered messages on ``topic`` whose ``dlq.reason`` header contains ``reason``, appended at or
        after ``since_ms`` (epoch ms; the record timestamp)."""
        n = 0
        for m in self._scan(topic, None, timeout):
            if m.timestamp()[1] < since_ms:
                continue
            headers = dict(m.headers() or [])
            why = (headers.get("dlq.reason") or b"").decode(errors="replace")
            if reason is None or reason in why:
                n += 1
        return n

    def tail(self, topic: str, n: int = 50, timeout: float = 5.0) -> list[bytes | None]:
        """The values of the last ``n`` messages on partition 0 of ``topic``, oldest first."""
        c = Consumer(client_config(self.settings, **{"group.id": "polydemo-probe", "enable.auto.commit": False}))
        try:
            low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout)
        finally:
            c.close()
        return [m.value() for m in self._scan(topic, max(low, high - n), timeout)]

    def produce(self, topic: str, key: bytes | None, value: bytes | None, timeout: float = 10.0) -> None:
        """One message, flushed (the schema-change story's malformed event stands in for a broken producer)."""
        from confluent_kafka import Producer

        p = Producer(producer_config(self.settings))
        p.produce(topic, key=key, value=value)
        if p.flush(timeout):
            raise TimeoutError(f"the message to {topic} was not acknowledged within {timeout:.0f}s")
