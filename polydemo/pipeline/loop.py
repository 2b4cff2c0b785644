"""The one consumer loop every projector runs: poll, decode, write idempotently, then commit (the projectors
themselves, one store writer each, are in ``pipeline/projectors.py``).

* Offsets are committed only after the store write succeeded (at-least-once delivery; the
  writes are idempotent, so the projection is effectively-once).
* A message that cannot be decoded goes to ``<prefix>.dlq`` with the reason in its headers;
  the projector keeps running (the DLQ write is flushed before the offset moves past it).
* When the store is down the batch is retried with exponential backoff (tenacity), forever,
  without committing; the status file says "retrying" and why.
* The projector reports its position in ``run/projector-<name>.json``; lag is computed from
  committed offsets by the Kafka admin API (so it is right even when the projector is dead).
* The same file carries ``recent``: a bounded ring of the last :data:`RECENT` changes applied, each
  with its source key, topic/partition/offset, the Kafka record timestamp, and when the projector
  consumed and applied it (``polydemo trace`` reads it; written with the status, never fsynced).

The loop (:class:`ProjectorLoop`) is given everything it talks to: the Kafka consumer, the DLQ producer,
the projector (the store writer), a status sink, the stop event and the retry sleep. Production
code (``pipeline/process.py``) passes the real confluent-kafka clients; tests/unit/test_projector_loop.py
passes small in-memory stand-ins for those client objects.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_never, wait_exponential

from polydemo.config import Settings
from polydemo.pipeline.events import Change, PoisonMessage, decode, topics
from polydemo.stores import kafka, statements

log = logging.getLogger("polydemo.projector")


class Projector(ABC):
    name: str
    sources: tuple[str, ...]  # keys of pipeline.events.topics(): "users", "follows", "posts"

    def __init__(self, settings: Settings):
        self.settings = settings

    @property
    def group(self) -> str:
        return group_id(self.settings, self.name)

    def topics(self) -> list[str]:
        names = topics(self.settings.topic_prefix)
        return [names[s] for s in self.sources]

    @abstractmethod
    def open(self) -> None:
        """Connect to the store and make sure its schema (constraints, indexes) exists."""

    @abstractmethod
    def apply(self, changes: list[Change]) -> None:
        """Write the changes idempotently; raise to have the batch retried."""

    def close(self) -> None:
        return None

    def reconnect(self) -> None:
        try:
            self.close()
        except Exception as exc:  # noqa: BLE001 - a broken connection may fail to close; open() replaces it
            log.info("%s: closing the old connection failed (%s); reopening", self.name, one_line(exc))
        self.open()


def one_line(exc: BaseException | None) -> str:
    """``Type: first line of the message`` (at most 200 characters): one log line per event."""
    text = str(exc).strip().splitlines()[0][:200] if exc is not None and str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"


def group_id(settings: Settings, name: str) -> str:
    return f"{settings.topic_prefix}-projector-{name}"


def dlq_topic(settings: Settings) -> str:
    return f"{settings.topic_prefix}.dlq"


def instance_file(settings: Settings, name: str, instance: int, suffix: str) -> Path:
    """``run/projector-<name>.<suffix>`` for instance 1, ``run/projector-<name>-<N>.<suffix>`` for the others
    (``polydemo projector scale``): each instance has its own pid and status file."""
    stem = f"projector-{name}" if instance == 1 else f"projector-{name}-{instance}"
    return settings.run_dir / f"{stem}.{suffix}"


def status_file(settings: Settings, name: str, instance: int = 1) -> Path:
    return instance_file(settings, name, instance, "json")


def client_id(name: str, instance: int) -> str:
    """The Kafka client id of a projector instance: the group's member list names its owner by it."""
    return f"polydemo-{name}-{instance}"


def instance_of(client: str) -> str | None:
    """``graph#2`` for client id ``polydemo-graph-2`` (pure; the dashboard names partition owners so)."""
    head, _, tail = client.rpartition("-")
    if not head.startswith("polydemo-") or not tail.isdigit():
        return None
    return f"{head.removeprefix('polydemo-')}#{tail}"


STATEMENTS_KEPT = 200


def show_commands_file(settings: Settings) -> Path:
    """While this file exists (``scenario run --show-commands``), every projector saves what it ran."""
    return settings.run_dir / "show-commands"


def statements_file(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"statements-{name}.json"


def recorded_statements(settings: Settings, name: str) -> list[dict]:
    """What projector ``name`` saved while ``--show-commands`` was on: newest last; [] when none."""
    try:
        data = json.loads(statements_file(settings, name).read_text())
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


# ---------------------------------------------------------------- what the loop talks to


class Message(Protocol):
    """The part of ``confluent_kafka.Message`` the loop uses."""

    def error(self) -> Any: ...
    def topic(self) -> str: ...
    def partition(self) -> int: ...
    def offset(self) -> int: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def timestamp(self) -> tuple[int, int]: ...


class Consumer(Protocol):
    """The part of ``confluent_kafka.Consumer`` the loop uses."""

    def subscribe(self, topics: list[str]) -> None: ...
    def poll(self, timeout: float) -> Message | None: ...
    def consume(self, num_messages: int, timeout: float) -> Sequence[Message]: ...
    def commit(self, *, offsets: list[Any], asynchronous: bool) -> Any: ...
    def assignment(self) -> Sequence[Any]: ...
    def close(self) -> None: ...


class Producer(Protocol):
    """The part of ``confluent_kafka.Producer`` the loop uses (the dead-letter producer)."""

    def produce(
        self, topic: str, *, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None: ...
    def flush(self, timeout: float) -> int: ...


class StatusSink(Protocol):
    def write(self, data: dict) -> None: ...


class StatusFile:
    """The status sink of a projector process: ``run/projector-<name>.json``, replaced atomically."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.path)


def consumer_config(settings: Settings, group: str, client: str | None = None) -> dict:
    return kafka.client_config(
        settings,
        **({"client.id": client} if client else {}),
        **{
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": settings.fetch_wait_ms,  # POLYDEMO_FETCH_WAIT_MS, config.FETCH_WAIT_MS
            "fetch.min.bytes": 1,
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 1000,
            # A store outage may hold a batch for minutes; the group must not evict us meanwhile.
            "max.poll.interval.ms": 86_400_000,
            "topic.metadata.refresh.interval.ms": 2000,
            "allow.auto.create.topics": True,
            **_debug(),
        },
    )


def _debug() -> dict:
    """POLYDEMO_RDKAFKA_DEBUG=cgrp,fetch (librdkafka's ``debug`` contexts): its log lines in the projector's log."""
    contexts = os.environ.get("POLYDEMO_RDKAFKA_DEBUG")
    if not contexts:
        return {}
    logger = logging.getLogger("rdkafka")
    logger.setLevel(logging.DEBUG)
    return {"debug": contexts, "logger": logger}


def dlq_producer_config(settings: Settings) -> dict:
    return kafka.producer_config(settings)


# ---------------------------------------------------------------- group membership

GROUP_STUCK_S = 30.0
STATS_EVERY_MS = 5000


class GroupWatch:
    """Whether this consumer is really in its group, from librdkafka's own statistics (``stats_cb``, every
    5 s): its join state "steady". :meth:`stuck` says why when a consumer that reaches a broker has not been
    steady for ``GROUP_STUCK_S``, and the loop then replaces the consumer (changes of state are logged).

    Found by the lid drill (every process SIGSTOPped 75 s, tests/integration/test_faults_lid.py): afterwards one
    projector polled nothing for minutes with 707 changes waiting, its group EMPTY. librdkafka waits for a
    JoinGroup answer as long as the rebalance timeout, which is max.poll.interval.ms, 24 h here on purpose (a
    store outage holds a batch without the group evicting the projector). Pure but for the clock passed in."""

    def __init__(self, stuck_s: float = GROUP_STUCK_S, clock: Callable[[], float] = time.monotonic):
        self.stuck_s = stuck_s
        self.clock = clock
        self.state = "init"
        self.join_state = "init"
        self.since: float | None = None  # the first report of the current run of not-steady ones
        self.last_report: float | None = None

    def on_stats(self, raw: str) -> None:
        try:
            cgrp = json.loads(raw).get("cgrp") or {}
        except ValueError:
            return
        now = self.clock()
        self.last_report = now
        before = (self.state, self.join_state)
        self.state = str(cgrp.get("state", self.state))
        self.join_state = str(cgrp.get("join_state", self.join_state))
        brokers = (json.loads(raw).get("brokers") or {}).values()
        reachable = any(b.get("state") == "UP" for b in brokers if isinstance(b, dict))
        if (self.state, self.join_state) != before:
            log.info("consumer group: %s/%s -> %s/%s", *before, self.state, self.join_state)
        if self.join_state == "steady" or not reachable:
            self.since = None  # steady; or no broker up (Kafka down): a new consumer would wait as well
        elif self.since is None:
            self.since = now

    def stuck(self) -> str | None:
        """Why the consumer should be replaced, or None. Only fresh reports count: none come while the loop
        does not poll (a batch held through a store outage), and an old one says nothing about now."""
        now = self.clock()
        fresh = self.last_report is not None and now - self.last_report <= 2.5 * STATS_EVERY_MS / 1000
        if self.since is None or not fresh or now - self.since < self.stuck_s:
            return None
        held = now - self.since
        return f"not in its consumer group for {held:.0f}s (Kafka up; group state {self.state}/{self.join_state})"

    def reset(self) -> None:
        self.state, self.join_state, self.since, self.last_report = "init", "init", None, None


class CommitResults:
    """What the group coordinator answered to the loop's asynchronous commits (librdkafka's ``on_commit``,
    served by the loop's own polls; pure but for a lock). A commit that failed is owed: :meth:`owed` gives its
    offsets back for the loop to commit again when it is idle, unless a later commit of the same partition went
    through meanwhile. Without that, a last commit refused while the coordinator moved would leave the lag above
    0 for good.

    Why asynchronous: the lid drill (tests/integration/test_faults_lid.py, in CI) left two projectors in
    ``wait-unassign-call`` for 554 s, the main thread blocked in a synchronous commit while librdkafka waited
    for that same thread to poll and serve the rebalance."""

    def __init__(self) -> None:
        self.failures = 0
        self.last_error: str | None = None
        self._owed: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()  # a replaced consumer's last answers come on the thread closing it

    def on_commit(self, err: Any, partitions: Sequence[Any]) -> None:
        with self._lock:
            self._answered(err, partitions)

    def _answered(self, err: Any, partitions: Sequence[Any]) -> None:
        failed: list[Any] = []
        for tp in partitions:
            key, offset = (tp.topic, tp.partition), tp.offset
            e = tp.error or err
            if e is None:
                if self._owed.get(key, -1) <= offset:
                    self._owed.pop(key, None)
            elif e.code() != KafkaError._NO_OFFSET and offset >= 0:
                self._owed[key] = max(offset, self._owed.get(key, -1))
                failed.append(e)
        if not partitions and err is not None and err.code() != KafkaError._NO_OFFSET:
            failed.append(err)
        if failed:
            self.failures += 1
            self.last_error = str(failed[0])
            log.warning("commit not accepted (%s); committed again when the loop is idle", self.last_error)

    def owed(self, assigned: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The offsets of failed commits on partitions still assigned here (taken: the answer to the new
        commit says again). Those of partitions now owned elsewhere are dropped: their owner commits them."""
        with self._lock:
            out = {k: o for k, o in self._owed.items() if k in assigned}
            self._owed.clear()
        return out


def watched_config(config: dict, watch: GroupWatch, commits: CommitResults | None = None) -> dict:
    """A consumer config whose statistics feed ``watch`` and whose commit answers feed ``commits``."""
    extra: dict[str, Any] = {"on_commit": commits.on_commit} if commits is not None else {}
    return {**config, "statistics.interval.ms": STATS_EVERY_MS, "stats_cb": watch.on_stats, **extra}


# ---------------------------------------------------------------- the loop

RECENT = 256  # applied changes kept in the status file's ring, for ``polydemo trace``
LAG_HISTORY_S = 60  # seconds of lag-as-time kept in the status file, one sample per second, for the trend


def oldest_ms(msgs: Sequence[Message]) -> int | None:
    """The oldest record timestamp (ms) of a batch: the change that waited longest (None when none has one)."""
    stamps = [ts for _, ts in (m.timestamp() for m in msgs) if ts and ts > 0]
    return min(stamps) if stamps else None


def note_lag(history: list[list[float]], now: float, age_s: float, keep_s: float = LAG_HISTORY_S) -> None:
    """Add one lag sample (seconds behind at ``now``) to ``history`` (``[[second, seconds behind], ...]``,
    oldest first; pure): one entry per whole second, the highest of that second, none older than ``keep_s``."""
    sec = float(int(now))
    age = round(max(0.0, age_s), 3)
    if history and history[-1][0] == sec:
        history[-1][1] = max(history[-1][1], age)
    else:
        history.append([sec, age])
    while history and history[0][0] <= now - keep_s:
        history.pop(0)


def applied_record(m: Message, ch: Change, consumed_at: float, applied_at: float) -> dict:
    """One entry of the ``recent`` ring: where a change came from and when this projector had it (ms)."""
    kind, ts = m.timestamp()
    return {
        "event_id": ch.event_id,
        "entity": ch.entity,
        "op": ch.op,
        "key": ch.key,
        "source_ts_ms": ch.ts_ms or None,
        "lsn": ch.extra.get("lsn"),
        "topic": m.topic(),
        "partition": m.partition(),
        "offset": m.offset(),
        "kafka_ts_ms": ts if kind != 0 and ts is not None and ts > 0 else None,  # 0: TIMESTAMP_NOT_AVAILABLE
        "consumed_at_ms": round(consumed_at * 1000, 3),
        "applied_at_ms": round(applied_at * 1000, 3),
    }


def _close_quietly(consumer: Consumer) -> None:
    try:
        consumer.close()
    except (KafkaException, RuntimeError) as exc:
        log.info("closing the replaced consumer: %s", exc)


class ProjectorLoop:
    STATUS_EVERY_S = 0.5

    def __init__(
        self,
        projector: Projector,
        consumer: Consumer,
        dlq: Producer,
        status: StatusSink,
        stop: threading.Event | None = None,
        batch_size: int = 1000,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] = time.time,
        instance: int = 1,
        watch: GroupWatch | None = None,
        make_consumer: Callable[[], Consumer] | None = None,
        commits: CommitResults | None = None,
    ):
        self.p = projector
        self.settings = projector.settings
        self.consumer = consumer
        self.dlq = dlq
        self.status = status
        self.stop = stop if stop is not None else threading.Event()
        self.batch_size = batch_size
        self.sleep: Callable[[float], Any] = sleep if sleep is not None else self.stop.wait  # wakes on stop
        self.clock = clock
        self.processed = 0
        self.dead_lettered = 0
        self.commit_failures = 0
        self.instance = instance
        self.watch = watch  # with make_consumer: a consumer left out of its group is replaced (GroupWatch)
        self.make_consumer = make_consumer
        self.rejoins = 0
        self.commits = commits if commits is not None else CommitResults()  # fed by on_commit (process.py)
        self._last_recommit = float("-inf")
        self.state = "starting"
        self.last_error: str | None = None
        self.positions: dict[str, int] = {}
        self.recent: deque[dict] = deque(maxlen=RECENT)
        # Lag as time, seen from inside the loop: when a batch is taken, how long its oldest change had
        # waited (the record timestamp against the clock); 0 when a poll finds nothing waiting; while a write
        # is retried, how long the held batch has waited. `projector status` draws the last minute of it.
        self.lag_history: list[list[float]] = []
        self._held_since_ms: int | None = None
        self._last_status = float("-inf")

    # -------------------------------------------------------------- status
    def write_status(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last_status < self.STATUS_EVERY_S:
            return
        self._last_status = now
        self.status.write(
            {
                "name": self.p.name,
                "instance": self.instance,
                "pid": os.getpid(),
                "group": self.p.group,
                "state": self.state,
                "processed": self.processed,
                "dead_lettered": self.dead_lettered,
                "commit_failures": self.commit_failures + self.commits.failures,
                "rejoins": self.rejoins,
                "group_state": f"{self.watch.state}/{self.watch.join_state}" if self.watch is not None else None,
                "last_error": self.last_error,
                "positions": dict(self.positions),
                "recent": list(self.recent),
                "lag_history": [list(x) for x in self.lag_history],
                "assignment": self._assignment(),
                "updated_at": now,
            }
        )

    def _assignment(self) -> list[list[str | int]]:
        """The partitions this instance owns now, ``[[topic, partition], ...]``: who owns what is read from
        here (the dashboard's partition table, the ``rebalance`` checks), not asked of the group coordinator
        with the admin API, whose coordinator requests abort the asking process when that broker dies
        (librdkafka: ``rd_kafka_enq_once_del_source_return`` assertion; reproduced in the broker drills)."""
        try:
            return sorted([tp.topic, tp.partition] for tp in self.consumer.assignment())
        except (KafkaException, RuntimeError):  # closed, or not subscribed yet
            return []

    # -------------------------------------------------------------- loop
    def run(self) -> None:
        try:
            if not self._retry(self.p.open, "opening the store"):
                return
            self.consumer.subscribe(self.p.topics())
            self.state = "running"
            self.write_status(force=True)
            while not self.stop.is_set():
                if not self._step():
                    break
        finally:
            self.state = "stopped"
            self.write_status(force=True)
            try:
                self.consumer.close()
            except (KafkaException, RuntimeError) as exc:  # closed twice, or the broker went away: nothing to commit
                log.warning("closing the consumer failed: %s", exc)
            self.p.close()

    def _rejoin_if_stuck(self) -> None:
        """Replace a consumer that has been out of its group too long (:class:`GroupWatch`). Nothing is lost: the
        new one resumes from the group's last commit, and every write is idempotent. The old one is closed on a
        thread of its own, since closing may wait on the very request that never came back."""
        why = self.watch.stuck() if self.watch is not None and self.make_consumer is not None else None
        if why is None or self.make_consumer is None or self.watch is None:
            return
        log.warning("%s: %s; rejoining with a new consumer", self.p.name, why)
        old, self.consumer = self.consumer, self.make_consumer()
        threading.Thread(target=_close_quietly, args=(old,), name="old-consumer", daemon=True).start()
        self.consumer.subscribe(self.p.topics())
        self.watch.reset()
        self.rejoins += 1
        self.last_error = f"rejoined its consumer group ({why})"
        self.write_status(force=True)

    def _step(self) -> bool:
        """One poll and its batch; False when the loop must end without committing."""
        self._rejoin_if_stuck()  # here, not only when idle: a steady stream must not hide a stuck group
        consumer = self.consumer
        first = consumer.poll(0.1)
        if first is None:
            note_lag(self.lag_history, self.clock(), 0.0)
            self._recommit()
            self.write_status()
            return True
        batch = [first, *consumer.consume(num_messages=self.batch_size - 1, timeout=0)]
        consumed_at = self.clock()
        self._held_since_ms = oldest_ms([m for m in batch if not m.error()])
        if self._held_since_ms is not None:
            note_lag(self.lag_history, consumed_at, consumed_at - self._held_since_ms / 1000)
        msgs = []
        for m in batch:
            err = m.error()
            if err:
                if err.code() != KafkaError._PARTITION_EOF:
                    self.last_error = str(err)
                    log.warning("consumer error: %s", err)
            else:
                msgs.append(m)
        if not msgs:
            self.write_status()
            return True
        changes: list[Change] = []
        decoded: list[tuple[Message, Change]] = []
        poison: list[tuple[Message, str]] = []
        for m in msgs:
            try:
                ch = decode(self.settings.topic_prefix, m.topic(), m.key(), m.value())
            except PoisonMessage as exc:
                poison.append((m, str(exc)))
                continue
            if ch is not None:
                changes.append(ch)
                decoded.append((m, ch))
        # Stopped while retrying: what was not written (or not acknowledged by the DLQ) is not committed.
        if poison and not self._dead_letter(poison):
            return False
        show = bool(changes) and show_commands_file(self.settings).exists()
        with statements.recording() if show else contextlib.nullcontext() as noted:
            if changes and not self._retry(lambda: self.p.apply(changes), f"writing {len(changes)} change(s)"):
                return False
        applied_at = self.clock()
        for m, ch in decoded:
            self.recent.append(applied_record(m, ch, consumed_at, applied_at))
        if noted is not None:
            self._save_statements(changes, [m for m, _ in decoded], noted)
        upto: dict[tuple[str, int], int] = {}
        for m in msgs:
            upto[(m.topic(), m.partition())] = max(m.offset() + 1, upto.get((m.topic(), m.partition()), -1))
        if not self._retry(lambda: self._commit(upto), "committing offsets"):
            return False
        for (topic, partition), offset in upto.items():
            self.positions[f"{topic}[{partition}]"] = offset
        self.processed += len(changes)
        self.state = "running"
        self.last_error = None
        self.write_status()
        return True

    # The group coordinator moved (a broker died or restarted): the same commit again succeeds once the
    # consumer finds the new one, so the caller retries it.
    _COMMIT_RETRIABLE = (
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._WAIT_COORD,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.REQUEST_TIMED_OUT,
    )

    def _commit(self, upto: dict[tuple[str, int], int]) -> None:
        """Commit after the write: the offsets just past this batch, named (never "what was consumed", which
        may already include the next batch, unwritten), and asynchronously (:class:`CommitResults` says why;
        its answer comes back through a later poll). A commit refused because the group rebalanced meanwhile
        (another instance joined or left) is not an error: the partition's new owner starts from the last
        commit and re-applies what this batch wrote, which the idempotent, version-guarded writes make
        harmless (at-least-once). One refused while this instance keeps the partition is committed again."""
        if not upto:
            return
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in sorted(upto.items())]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            code = err.code() if isinstance(err, KafkaError) else None
            if code == KafkaError._NO_OFFSET:
                return
            if code in self._COMMIT_RETRIABLE or (isinstance(err, KafkaError) and err.retriable()):
                raise
            self.commit_failures += 1
            log.warning("commit not accepted (%s); the partition's owner re-reads from the last commit", exc)

    RECOMMIT_EVERY_S = 1.0

    def _recommit(self) -> None:
        """Idle: commit again what failed to commit (:meth:`CommitResults.owed`), at most once a second."""
        now = self.clock()
        if now - self._last_recommit < self.RECOMMIT_EVERY_S:
            return
        self._last_recommit = now
        try:
            assigned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        except (KafkaException, RuntimeError):
            return
        owed = self.commits.owed(assigned)
        if owed:
            log.info("committing again %d partition(s) whose commit failed", len(owed))
            try:
                self._commit(owed)
            except KafkaException as exc:  # still refused: said by the next poll's answer, or here
                log.warning("committing again failed: %s", one_line(exc))
                self.commits.on_commit(
                    exc.args[0] if exc.args else None, [TopicPartition(t, p, o) for (t, p), o in owed.items()]
                )

    def _save_statements(self, changes: list[Change], origin: list[Message], noted: statements.StatementLog) -> None:
        """``--show-commands``: what this batch ran per change (and where the change was on Kafka), the
        newest :data:`STATEMENTS_KEPT` kept in ``run/statements-<name>.json`` for the scenario to read back."""
        by_key: dict[str, list[str]] = {}
        for st in noted.items:
            by_key.setdefault(st.key or "", []).append(st.text)
        entries = []
        for c, m in zip(changes, origin, strict=True):
            key = statements.change_key(c)
            entries.append(
                {
                    "key": key,
                    "op": c.op,
                    "kafka": {"topic": m.topic(), "partition": m.partition(), "offset": m.offset()},
                    "statements": by_key.get(key, []),
                    "at": self.clock(),
                }
            )
        try:
            path = statements_file(self.settings, self.p.name)
            old = json.loads(path.read_text()) if path.exists() else []
            StatusFile(path).write((old + entries)[-STATEMENTS_KEPT:])  # type: ignore[arg-type]
        except (OSError, ValueError) as exc:  # showing the commands must never stop the projection
            log.warning("could not save the statements for --show-commands: %s", one_line(exc))

    def _dead_letter(self, poison: list[tuple[Message, str]]) -> bool:
        for m, reason in poison:
            headers = [
                ("dlq.reason", reason.encode()),
                ("dlq.source.topic", m.topic().encode()),
                ("dlq.source.partition", str(m.partition()).encode()),
                ("dlq.source.offset", str(m.offset()).encode()),
                ("dlq.projector", self.p.name.encode()),
            ]
            self.dlq.produce(dlq_topic(self.settings), key=m.key(), value=m.value(), headers=headers)
        if not self._retry(self._flush_dlq, "writing to the dead-letter topic"):
            return False
        self.dead_lettered += len(poison)
        log.info("dead-lettered %d message(s): %s", len(poison), poison[0][1])
        return True

    def _flush_dlq(self) -> None:
        left = self.dlq.flush(10)
        if left:
            raise RuntimeError(f"{left} message(s) not acknowledged by Kafka")

    def _sleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def _retry(self, fn: Callable[[], Any], what: str) -> bool:
        """Call ``fn`` until it succeeds (True) or the loop is stopped between attempts (False)."""

        def before_sleep(rs: RetryCallState) -> None:
            exc = rs.outcome.exception() if rs.outcome is not None else None
            self.state = "retrying"
            self.last_error = f"{what}: {one_line(exc)}"
            if self._held_since_ms is not None:  # the batch held back keeps ageing
                now = self.clock()
                note_lag(self.lag_history, now, now - self._held_since_ms / 1000)
            log.warning("retry #%d %s", rs.attempt_number, self.last_error)
            self.write_status(force=True)
            try:
                self.p.reconnect()
            except Exception as exc2:  # noqa: BLE001 - the store is still down; the next attempt says why
                log.info("reconnect failed (%s); retrying", one_line(exc2))

        for attempt in Retrying(
            wait=wait_exponential(multiplier=0.2, max=5),
            stop=stop_never,
            retry=retry_if_exception_type(Exception),
            before_sleep=before_sleep,
            reraise=True,
            sleep=self._sleep,
        ):
            with attempt:
                if self.stop.is_set() and attempt.retry_state.attempt_number > 1:
                    return False
                fn()
        return True
