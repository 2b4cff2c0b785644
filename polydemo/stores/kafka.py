"""Apache Kafka: topics, offsets and consumer-group positions through the admin API (never by shelling out).

:class:`KafkaAdmin` is the gateway: one AdminClient, topic creation and recreation, consumer groups,
high watermarks and committed offsets, and reading a topic (counting a key, the tail). What a
projector's lag *is* (which topics, which group) is the pipeline's business (``pipeline/lag.py``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from polydemo.config import Settings
from polydemo.errors import StoreUnreachable
from polydemo.stores import Gateway, Health

SERVICE = "kafka"
T = TypeVar("T")
log = logging.getLogger(__name__)

# librdkafka logs every failed connection attempt; while a broker is (deliberately) down in a
# drill that chatter would scroll the dashboard away, so it goes to a logger that drops it.
_QUIET = logging.getLogger("polydemo.librdkafka")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def client_config(settings: Settings, **extra) -> dict:
    return {"bootstrap.servers": settings.kafka_bootstrap, "socket.timeout.ms": 3000, "logger": _QUIET, **extra}


KEYED = {"partitioner": "murmur2_random"}
"""For a producer of keyed records: the partitioner of Kafka's Java clients (murmur2 of the key bytes), the one
Debezium's Connect worker uses, so every producer of polydemo puts a key on the same partition (librdkafka's
default, crc32, would put it elsewhere). A key always goes to one partition: its changes stay in order."""


def producer_config(settings: Settings, **extra) -> dict:
    """Every polydemo producer: acknowledged by all in-sync replicas (``min.insync.replicas`` of them, 2 of 3
    in cluster mode) and idempotent, so a retry after a leader change never writes a message twice."""
    return client_config(
        settings,
        **{
            "linger.ms": 0,
            "acks": "all",
            "enable.idempotence": True,
            # In cluster mode the producer re-reads the metadata every 250 ms: after a leader dies, librdkafka
            # otherwise found the new one only on a 1 s timer, 0.4-1.9 s after the cluster had it
            # (bench/cluster.py: SIGKILL -> next ack 2.9-5.0 s at 5000, 3.0-3.5 s at 250). One broker has
            # no failover, so it keeps 5 s and costs nothing idle.
            "topic.metadata.refresh.interval.ms": 250 if settings.cluster else 5000,
            # After a leader dies the producer asks for metadata again, backing off up to this long between
            # asks until the new leader is there (librdkafka default 1 s; the failover bench pays it once).
            "retry.backoff.max.ms": 250,
        },
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
    """One partition as the cluster metadata describes it (broker ids; ``leader`` -1 when it has none)."""

    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True)
class GroupMember:
    """One member of a consumer group and the partitions assigned to it now."""

    client_id: str
    host: str
    partitions: tuple[tuple[str, int], ...]


def _count(partitions: dict[str, int] | int, topic: str) -> int:
    return partitions if isinstance(partitions, int) else partitions.get(topic, 1)


def _states(md, names: list[str]) -> list[PartitionState]:
    out = []
    for t in names:
        meta = md.topics.get(t)
        if meta is None or meta.error is not None:
            continue
        for p, pm in sorted(meta.partitions.items()):
            leader = pm.leader if pm.leader is not None and pm.leader >= 0 else -1
            out.append(PartitionState(t, p, leader, tuple(pm.replicas or ()), tuple(pm.isrs or ())))
    return out


# What a partition's leader answers for a moment after leadership moved (a broker died, came back, or took
# its preferred partitions back): the client or the broker has not seen the new epoch yet. Asked again a
# moment later, the same request succeeds; librdkafka's admin ``list_offsets`` does not ask again itself.
LEADER_MOVING = frozenset(
    {
        KafkaError.UNKNOWN_LEADER_EPOCH,
        KafkaError.FENCED_LEADER_EPOCH,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.REPLICA_NOT_AVAILABLE,
        KafkaError.OFFSET_NOT_AVAILABLE,
        # the same for a consumer group's coordinator (committed offsets), which moves with its broker
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    }
)


# A request that went to a broker as it died: it times out, or its connection fails under it.
LOST_REQUEST = frozenset({KafkaError._TIMED_OUT, KafkaError._TRANSPORT})


def _error_of(exc: BaseException) -> KafkaError | None:
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return err if isinstance(err, KafkaError) else None


def transient(exc: BaseException) -> bool:
    """A Kafka error that asking again soon will clear (a leader moving, a request lost with its broker)."""
    err = _error_of(exc)
    if err is None:
        return False
    return err.code() in LEADER_MOVING or err.code() in LOST_REQUEST or err.retriable()


@contextlib.contextmanager
def unreachable_on_error() -> Iterator[None]:
    """A ``KafkaException`` as polydemo's :class:`StoreUnreachable` (its :func:`transient` kept; the exception is
    its cause): what the lag reads raise, so the callers above ``stores/`` never catch the client's error."""
    try:
        yield
    except KafkaException as exc:
        err = _error_of(exc)
        text = err.str() if err is not None else str(exc)
        reason = (text.strip().splitlines() or [type(exc).__name__])[0][:200]
        raise StoreUnreachable("Kafka", reason, transient=transient(exc)) from exc


def ask_again(
    ask: Callable[[float], T],
    timeout: float,
    per_try: float | None = None,
    backoff: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Any] = time.sleep,
) -> T:
    """``ask(seconds)``, asked again while it raises a :func:`transient` error, ``backoff`` s apart, each try
    given what is left of ``timeout`` (at most ``per_try``); the last error once ``timeout`` is spent."""
    deadline = clock() + timeout
    while True:
        left = deadline - clock()
        try:
            return ask(max(0.1, min(per_try or left, left)))
        except KafkaException as exc:
            if not transient(exc) or clock() + max(backoff, 0.05) >= deadline:
                raise
            log.debug("asked Kafka again: %s", exc)
            if backoff:
                sleep(backoff)


def latest_offsets(
    list_offsets: Callable[[dict, float], dict],
    partitions: list[TopicPartition],
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Any] = time.sleep,
    backoff: float = 0.1,
) -> dict[tuple[str, int], int]:
    """Each partition's high watermark through ``list_offsets`` (``AdminClient.list_offsets`` as
    ``(request, timeout) -> {TopicPartition: future}``). A partition whose answer is :func:`transient` is asked
    again, alone, every ``backoff`` s until ``timeout`` has passed; then its last error is raised, as any other
    error at once."""
    deadline = clock() + timeout
    todo = list(partitions)
    out: dict[tuple[str, int], int] = {}
    while True:
        req = {tp: OffsetSpec.latest() for tp in todo}
        failed: list[TopicPartition] = []
        last: BaseException | None = None
        for tp, fut in list_offsets(req, max(0.5, deadline - clock())).items():
            try:
                out[(tp.topic, tp.partition)] = fut.result().offset
            except KafkaException as exc:
                if not transient(exc):
                    raise
                failed.append(tp)
                last = exc
        if not failed:
            return out
        if clock() + backoff > deadline:
            assert last is not None
            raise last
        log.debug("high watermarks of %d partitions asked again: %s", len(failed), last)
        sleep(backoff)
        todo = failed


def _already_exists(exc: BaseException) -> bool:
    err = _error_of(exc)
    return (err is not None and err.code() == KafkaError.TOPIC_ALREADY_EXISTS) or "TOPIC_ALREADY_EXISTS" in str(exc)


class KafkaAdmin(Gateway[AdminClient]):
    """The Kafka gateway (admin API + short-lived consumers for reading a topic)."""

    service = SERVICE

    def _connect(self) -> AdminClient:
        return admin(self.settings)

    _reader: Consumer | None = None  # record_timestamps
    _ranges: Consumer | None = None  # read_ranges
    _tails: Consumer | None = None  # read_tails

    def close(self) -> None:
        self._client = None  # an AdminClient has no close(); dropping it ends its threads
        readers = [self._reader, self._ranges, self._tails, *(self._offset_readers or {}).values()]
        self._reader, self._ranges, self._tails, self._offset_readers = None, None, None, None
        for reader in readers:
            if reader is not None:
                with contextlib.suppress(KafkaException, RuntimeError):
                    reader.close()

    METADATA_TRY_S = 1.0

    def _metadata(self, timeout: float):
        """The cluster's metadata, asked again every second (at most ``timeout`` in all): a request that went
        to a broker as it was SIGKILLed waits out its whole timeout (3 s here in ``kill-broker``), while the
        same question asked anew goes to a broker that is up."""
        client = self.client
        return ask_again(lambda t: client.list_topics(timeout=t), timeout, per_try=self.METADATA_TRY_S)

    # ------------------------------------------------------------ topics
    def topic_names(self, timeout: float = 5.0) -> set[str]:
        return set(self._metadata(timeout).topics)

    def ensure_topics(
        self,
        names: list[str],
        partitions: dict[str, int] | int = 1,
        timeout: float = 10.0,
        configs: dict[str, dict[str, str]] | None = None,
    ) -> list[str]:
        """Create the topics that do not exist yet (so consumers never start on a missing one); returns those made.
        ``partitions``: one count for all, or per topic (default 1). ``configs``: topic-level settings per topic
        (``cleanup.policy=compact``). Both apply only at creation: a topic that exists keeps its partitions and
        its configuration."""
        missing = [n for n in names if n not in self.topic_names(timeout)]
        if not missing:
            return []
        futures = self.client.create_topics(
            [
                NewTopic(n, _count(partitions, n), self.settings.replication_factor, config=(configs or {}).get(n, {}))
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
        self,
        names: list[str],
        timeout: float = 60.0,
        configs: dict[str, dict[str, str]] | None = None,
        partitions: dict[str, int] | int = 1,
    ) -> None:
        """Delete these topics (where they exist) and create them empty again (with ``partitions`` and
        ``configs``, as above)."""
        doomed = [n for n in names if n in self.topic_names(10)]
        if doomed:
            for fut in self.client.delete_topics(doomed, operation_timeout=30).values():
                fut.result()
        deadline = time.monotonic() + timeout
        while True:
            try:
                rf = self.settings.replication_factor
                made = [NewTopic(n, _count(partitions, n), rf, config=(configs or {}).get(n, {})) for n in names]
                for fut in self.client.create_topics(made, request_timeout=10).values():
                    fut.result()
                return
            except KafkaException as exc:  # "marked for deletion" for a moment after the delete
                if _already_exists(exc) and set(names) <= self.topic_names(10):
                    return
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def live_brokers(self, timeout: float = 3.0) -> set[int]:
        """The ids of the brokers the cluster metadata lists (registered and not fenced)."""
        return set(self._metadata(timeout).brokers)

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

    def partition_counts(self, names: list[str], timeout: float = 5.0) -> dict[str, int]:
        """How many partitions each of these topics has now (topics that do not exist are left out)."""
        md = self._metadata(timeout)
        return {t: len(md.topics[t].partitions) for t in names if t in md.topics and md.topics[t].error is None}

    def partition_states(self, topics: list[str], timeout: float = 5.0) -> list[PartitionState]:
        """Leader, replicas and in-sync replicas of every partition of ``topics`` (those that exist; one
        metadata request), in order."""
        return _states(self._metadata(timeout), topics)

    def partition_view(
        self, topics: list[str], timeout: float = 3.0
    ) -> tuple[list[PartitionState], dict[tuple[str, int], int]]:
        """:meth:`partition_states` and the high watermarks of the same partitions, from one metadata and one
        offsets request (the dashboard's frame)."""
        states, highs, _ = self.cluster_view(topics, timeout)
        return states, highs

    def cluster_view(
        self, topics: list[str], timeout: float = 3.0
    ) -> tuple[list[PartitionState], dict[tuple[str, int], int], set[int]]:
        """:meth:`partition_view` and the ids of the brokers the same metadata lists (registered, not fenced)."""
        md = self._metadata(timeout)
        states = _states(md, topics)
        brokers = set(md.brokers)
        req = [TopicPartition(s.topic, s.partition) for s in states]
        if not req:
            return states, {}, brokers
        return states, self._latest(req, timeout), brokers

    # ------------------------------------------------------------ offsets
    def high_watermarks(self, topic_names: list[str] | None = None, timeout: float = 3.0) -> dict[tuple[str, int], int]:
        """Each partition's high watermark (default: every topic but Kafka's own); :class:`StoreUnreachable` when
        Kafka does not answer."""
        with unreachable_on_error():
            md = self._metadata(timeout)
            names = topic_names or [t for t in md.topics if not t.startswith("__")]
            req = [TopicPartition(t, p) for t in names if t in md.topics for p in md.topics[t].partitions]
            if not req:
                return {}
            return self._latest(req, timeout)

    def _latest(self, partitions: list[TopicPartition], timeout: float) -> dict[tuple[str, int], int]:
        client = self.client
        return latest_offsets(lambda req, t: client.list_offsets(req, request_timeout=t), partitions, timeout)

    _offset_readers: dict[str, Consumer] | None = None

    def committed(
        self, group: str, partitions: list[tuple[str, int]], timeout: float = 3.0
    ) -> dict[tuple[str, int], int]:
        """The offsets ``group`` has committed, for ``partitions``; those it never committed are left out.

        Read through a consumer that carries the group's id and never subscribes (so it never joins the
        group or moves its offsets), not ``AdminClient.list_consumer_group_offsets``: librdkafka's admin path
        dereferences a NULL consumer group when the answer is NOT_COORDINATOR, which is what a broker says
        while the group's coordinator moves (librdkafka issue 5040, open; it killed the test run in the
        ``min-insync`` drill with a segmentation fault). A consumer's own group handle re-queries the
        coordinator instead. :class:`StoreUnreachable` when Kafka does not answer."""
        if not partitions:
            return {}
        if self._offset_readers is None:
            self._offset_readers = {}
        reader = self._offset_readers.get(group)
        if reader is None:
            reader = self._offset_readers[group] = Consumer(
                client_config(self.settings, **{"group.id": group, "enable.auto.commit": False})
            )
        asked = [TopicPartition(t, p) for t, p in partitions]
        # the consumer finds a moved coordinator by itself; it is asked again meanwhile
        with unreachable_on_error():
            got = ask_again(lambda t: reader.committed(asked, timeout=t), timeout, backoff=0.1)
        return {(tp.topic, tp.partition): tp.offset for tp in got if tp.error is None and tp.offset >= 0}

    def group_lag(self, group: str, group_topics: list[str], highs: dict | None = None) -> list[PartitionLag]:
        highs = highs if highs is not None else self.high_watermarks(group_topics)
        mine = sorted((t, p) for (t, p) in highs if t in group_topics)
        done = self.committed(group, mine)
        return [PartitionLag(t, p, highs[(t, p)], done.get((t, p))) for t, p in mine]

    # ------------------------------------------------------------ reading a topic
    def _assign_only_config(self, role: str, **extra) -> dict:
        """A consumer the gateway keeps for reading partitions it assigns itself: it never joins its group
        (``<prefix>-<role>``), never commits, and asks for more at most every 10 ms."""
        return client_config(
            self.settings,
            **{
                "group.id": f"{self.settings.topic_prefix}-{role}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 10,
                # librdkafka pre-fetches up to 64 MB per consumer by default: a dashboard reading a large
                # history held it all (a one-shot `snapshot` at 100,000 sign-ups: 333 MB RSS)
                "queued.max.messages.kbytes": 4096,
                "fetch.max.bytes": 4 * 1024 * 1024,
                **extra,
            },
        )

    def record_timestamps(
        self, positions: dict[tuple[str, int], int], timeout: float = 0.3
    ) -> dict[tuple[str, int], int | None]:
        """The record timestamp (ms) of the first message at or after each (topic, partition) offset: one
        message per partition, read by one assign-only consumer kept between calls (it never joins a
        group or commits). None where nothing arrived within ``timeout`` seconds; :class:`StoreUnreachable` when
        the partitions cannot be assigned."""
        out: dict[tuple[str, int], int | None] = dict.fromkeys(positions)
        if not positions:
            return out
        if self._reader is None:
            self._reader = Consumer(self._assign_only_config("lag-reader"))
        reader = self._reader
        with unreachable_on_error():
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

    def topic_ids(self, topics: list[str], timeout: float = 3.0) -> dict[str, str]:
        """Each topic's id (a topic deleted and created again, as ``reset`` does, has a new one); topics that do
        not exist are left out. One DescribeTopics request."""
        from confluent_kafka import TopicCollection

        out: dict[str, str] = {}
        if not topics:
            return out
        for name, fut in self.client.describe_topics(TopicCollection(topics), request_timeout=timeout).items():
            try:
                out[name] = str(fut.result().topic_id)
            except KafkaException as exc:
                log.debug("topic %s not described: %s", name, exc)
        return out

    def read_ranges(
        self,
        starts: dict[tuple[str, int], int],
        ends: dict[tuple[str, int], int],
        on_message: Callable[[Any], None],
        budget: float = 0.2,
        stop: threading.Event | None = None,
    ) -> dict[tuple[str, int], int]:
        """Pass ``on_message`` the messages of each (topic, partition) from its ``starts`` offset up to (not
        including) its ``ends`` offset, for at most ``budget`` seconds or until ``stop`` is set; returns where
        each partition's reading got to (the next offset to read; == ends when done). Messages are handed over
        as they come, never held (a first read at 100,000 sign-ups held ~250 MB). One assign-only consumer kept
        between calls (never a group member, never commits), so a caller that remembers the positions reads
        only what is new (the dashboard's schema versions). A partition whose low watermark is past its start
        is read from there."""
        todo = {tp: (max(0, starts.get(tp, 0)), end) for tp, end in ends.items() if end > max(0, starts.get(tp, 0))}
        reached = {tp: max(0, starts.get(tp, 0)) for tp in ends}
        if not todo:
            return reached
        if self._ranges is None:
            self._ranges = Consumer(self._assign_only_config("schema-reader", **{"enable.partition.eof": True}))
        reader = self._ranges
        reader.assign([TopicPartition(t, p, first) for (t, p), (first, _) in todo.items()])
        end_at = time.monotonic() + budget
        try:
            while todo and time.monotonic() < end_at and not (stop is not None and stop.is_set()):
                for m in reader.consume(num_messages=500, timeout=max(0.0, min(0.05, end_at - time.monotonic()))):
                    tp = (m.topic() or "", m.partition() or 0)
                    err = m.error()
                    if tp not in todo:
                        continue
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:  # a control record at the end, or compacted
                            reached[tp] = todo.pop(tp)[1]
                        continue
                    off = m.offset() or 0
                    if off < todo[tp][1]:
                        on_message(m)
                        reached[tp] = off + 1
                    if off >= todo[tp][1] - 1:
                        reached[tp] = todo.pop(tp)[1]
        finally:
            reader.unassign()
        return reached

    def read_tails(
        self, ends: dict[tuple[str, int], int], n: int, budget: float = 0.3
    ) -> tuple[dict[tuple[str, int], list], set[tuple[str, int]]]:
        """The tail of each (topic, partition): its messages from ``n`` before its ``ends`` offset (the high
        watermark the caller saw; later ones come too), read for at most ``budget`` seconds. Returns the
        messages per partition, oldest first, and the partitions not read to their end in time. One assign-only
        consumer kept between calls (group ``<prefix>-dashboard``: never a member, never commits): the
        dashboard's event feed, a few messages per partition whose end moved."""
        got: dict[tuple[str, int], list] = {tp: [] for tp in ends}
        if not ends:
            return got, set()
        if self._tails is None:
            self._tails = Consumer(self._assign_only_config("dashboard", **{"enable.partition.eof": True}))
        reader = self._tails
        reader.assign([TopicPartition(t, p, max(0, high - n)) for (t, p), high in ends.items()])
        remaining = dict(ends)
        end_at = time.perf_counter() + budget
        try:
            while remaining and time.perf_counter() < end_at:
                for m in reader.consume(num_messages=200, timeout=min(0.05, max(0.0, end_at - time.perf_counter()))):
                    tp = (m.topic() or "", m.partition() or 0)
                    err = m.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            remaining.pop(tp, None)
                        continue
                    if tp in got:
                        got[tp].append(m)
                    if tp in remaining and (m.offset() or 0) >= remaining[tp] - 1:
                        remaining.pop(tp)
        finally:
            reader.unassign()
        return got, set(remaining)

    def _probe(self) -> Consumer:
        return Consumer(
            client_config(
                self.settings,
                **{
                    "group.id": f"polydemo-probe-{uuid.uuid4().hex[:8]}",
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,  # the end of a partition whose last offset is a control record
                },
            )
        )

    def read_partitions(
        self, topic: str, start: dict[int, int] | None = None, back: int | None = None, timeout: float = 5.0
    ) -> list:
        """The messages of ``topic``'s partitions, each from an offset to its high watermark at the call, in
        (partition, offset) order. ``start``: the partitions to read and the offset of each (clamped to the
        partition's low watermark); default every partition from its beginning. ``back``: instead, the last
        ``back`` messages of each partition. One assign-only consumer, never a group member."""
        c = self._probe()
        try:
            meta = c.list_topics(topic, timeout=timeout).topics.get(topic)
            if meta is None or meta.error is not None:
                return []
            parts = sorted(meta.partitions) if start is None else sorted(start)
            todo: dict[int, tuple[int, int]] = {}  # partition -> (first offset, high watermark)
            for p in parts:
                low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
                first = low if start is None else max(low, start[p])
                if back is not None:
                    first = max(low, high - back)
                if high > first:
                    todo[p] = (first, high)
            if not todo:
                return []
            c.assign([TopicPartition(topic, p, first) for p, (first, _) in todo.items()])
            got: dict[int, list] = {p: [] for p in todo}
            deadline = time.monotonic() + timeout
            while todo and time.monotonic() < deadline:
                for m in c.consume(num_messages=500, timeout=0.5):
                    p = m.partition() or 0
                    err = m.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            todo.pop(p, None)
                        continue
                    if p not in todo:
                        continue
                    off = m.offset() or 0
                    if off < todo[p][1]:
                        got[p].append(m)
                    if off >= todo[p][1] - 1:
                        todo.pop(p)
            return [m for p in sorted(got) for m in got[p]]
        finally:
            c.close()

    def key_counts(self, topic: str, key_prefix: str = "", timeout: float = 5.0) -> dict[str, int]:
        """How many messages each key (starting with ``key_prefix``) has on ``topic`` (all partitions)."""
        out: dict[str, int] = {}
        for m in self.read_partitions(topic, timeout=timeout):
            key = key_text(m.key())
            if key.startswith(key_prefix):
                out[key] = out.get(key, 0) + 1
        return out

    def count_key(self, topic: str, key: str | None = None, timeout: float = 5.0) -> int:
        """Messages on ``topic`` (all partitions; with ``key``, only those)."""
        msgs = self.read_partitions(topic, timeout=timeout)
        return len(msgs) if key is None else sum(1 for m in msgs if key_text(m.key()) == key)

    def key_partitions(self, topic: str, key_prefix: str = "", timeout: float = 5.0) -> dict[str, set[int]]:
        """The partitions each key (starting with ``key_prefix``) has messages on."""
        out: dict[str, set[int]] = {}
        for m in self.read_partitions(topic, timeout=timeout):
            key = key_text(m.key())
            if key.startswith(key_prefix):
                out.setdefault(key, set()).add(m.partition() or 0)
        return out

    def dlq_count(self, topic: str, reason: str | None = None, since_ms: int = 0, timeout: float = 5.0) -> int:
        """Dead-lettered messages on ``topic`` whose ``dlq.reason`` header contains ``reason``, appended at or
        after ``since_ms`` (epoch ms; the record timestamp)."""
        n = 0
        for m in self.read_partitions(topic, timeout=timeout):
            if m.timestamp()[1] < since_ms:
                continue
            headers = dict(m.headers() or [])
            why = (headers.get("dlq.reason") or b"").decode(errors="replace")
            if reason is None or reason in why:
                n += 1
        return n

    def tail(self, topic: str, n: int = 50, timeout: float = 5.0) -> list[bytes | None]:
        """The values of the last ``n`` messages of ``topic`` (over all its partitions, by record timestamp),
        oldest first."""
        msgs = self.read_partitions(topic, back=n, timeout=timeout)
        msgs.sort(key=lambda m: (m.timestamp()[1], m.partition() or 0, m.offset() or 0))
        return [m.value() for m in msgs[-n:]]

    def produce(self, topic: str, key: bytes | None, value: bytes | None, timeout: float = 10.0) -> None:
        """One message, flushed (the schema-change story's malformed event stands in for a broken producer)."""
        from confluent_kafka import Producer

        p = Producer(producer_config(self.settings))
        p.produce(topic, key=key, value=value)
        if p.flush(timeout):
            raise TimeoutError(f"the message to {topic} was not acknowledged within {timeout:.0f}s")
