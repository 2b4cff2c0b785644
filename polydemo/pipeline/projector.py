"""The one consumer loop every projector runs: poll, decode, write idempotently, then commit.

* Offsets are committed only after the store write succeeded (at-least-once delivery; the
  writes are idempotent, so the projection is effectively-once).
* A message that cannot be decoded goes to ``<prefix>.dlq`` with the reason in its headers;
  the projector keeps running (the DLQ write is flushed before the offset moves past it).
* When the store is down the batch is retried with exponential backoff (tenacity), forever,
  without committing; the status file says "retrying" and why.
* The projector reports its position in ``run/projector-<name>.json``; lag is computed from
  committed offsets by the Kafka admin API (so it is right even when the projector is dead).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Producer
from tenacity import Retrying, retry_if_exception_type, stop_never, wait_exponential

from polydemo.config import Settings
from polydemo.pipeline.events import Change, PoisonMessage, decode, topics
from polydemo.stores import kafka


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
        pass

    def reconnect(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
        self.open()


def group_id(settings: Settings, name: str) -> str:
    return f"{settings.topic_prefix}-projector-{name}"


def dlq_topic(settings: Settings) -> str:
    return f"{settings.topic_prefix}.dlq"


def status_file(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"projector-{name}.json"


class Runner:
    def __init__(self, projector: Projector, batch_size: int = 1000):
        self.p = projector
        self.settings = projector.settings
        self.batch_size = batch_size
        self.stop = threading.Event()
        self.processed = 0
        self.dead_lettered = 0
        self.state = "starting"
        self.last_error: str | None = None
        self.positions: dict[str, int] = {}
        self._last_status = 0.0

    # -------------------------------------------------------------- status
    def write_status(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last_status < 0.5:
            return
        self._last_status = now
        data = {"name": self.p.name, "pid": os.getpid(), "group": self.p.group, "state": self.state,
                "processed": self.processed, "dead_lettered": self.dead_lettered, "last_error": self.last_error,
                "positions": self.positions, "updated_at": now}
        path = status_file(self.settings, self.p.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)

    # -------------------------------------------------------------- loop
    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        self._retry(self.p.open, "opening the store")
        consumer = Consumer(kafka.client_config(self.settings, **{
            "group.id": self.p.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 10,
            "fetch.min.bytes": 1,
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 1000,
            # A store outage may hold a batch for minutes; the group must not evict us meanwhile.
            "max.poll.interval.ms": 86_400_000,
            "topic.metadata.refresh.interval.ms": 2000,
            "allow.auto.create.topics": True,
        }))
        dlq = Producer(kafka.client_config(self.settings, **{"linger.ms": 0, "acks": "all"}))
        consumer.subscribe(self.p.topics())
        self.state = "running"
        self.write_status(force=True)
        try:
            while not self.stop.is_set():
                first = consumer.poll(0.1)
                if first is None:
                    self.write_status()
                    continue
                batch = [first, *consumer.consume(num_messages=self.batch_size - 1, timeout=0)]
                msgs = []
                for m in batch:
                    if m.error():
                        if m.error().code() != KafkaError._PARTITION_EOF:
                            self.last_error = str(m.error())
                    else:
                        msgs.append(m)
                if not msgs:
                    self.write_status()
                    continue
                changes: list[Change] = []
                poison = []
                for m in msgs:
                    try:
                        ch = decode(self.settings.topic_prefix, m.topic(), m.key(), m.value())
                    except PoisonMessage as exc:
                        poison.append((m, str(exc)))
                        continue
                    if ch is not None:
                        changes.append(ch)
                if poison:
                    self._dead_letter(dlq, poison)
                if changes:
                    self._retry(lambda: self.p.apply(changes), f"writing {len(changes)} change(s)")
                if self.stop.is_set() and changes:
                    # Stopped while retrying: the batch was not written, so it must not be committed.
                    break
                consumer.commit(asynchronous=False)
                for m in msgs:
                    self.positions[f"{m.topic()}[{m.partition()}]"] = m.offset() + 1
                self.processed += len(changes)
                self.state = "running"
                self.last_error = None
                self.write_status()
        finally:
            self.state = "stopped"
            self.write_status(force=True)
            try:
                consumer.close()
            except Exception:  # noqa: BLE001
                pass
            self.p.close()

    def _dead_letter(self, dlq: Producer, poison: list) -> None:
        for m, reason in poison:
            headers = [("dlq.reason", reason.encode()), ("dlq.source.topic", m.topic().encode()),
                       ("dlq.source.partition", str(m.partition()).encode()),
                       ("dlq.source.offset", str(m.offset()).encode()),
                       ("dlq.projector", self.p.name.encode())]
            dlq.produce(dlq_topic(self.settings), key=m.key(), value=m.value(), headers=headers)
        self._retry(lambda: _flush(dlq), "writing to the dead-letter topic")
        self.dead_lettered += len(poison)
        print(f"dead-lettered {len(poison)} message(s): {poison[0][1]}", flush=True)

    def _retry(self, fn, what: str) -> None:
        def before_sleep(rs) -> None:
            exc = rs.outcome.exception()
            self.state = "retrying"
            self.last_error = f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            print(f"retry #{rs.attempt_number} {self.last_error}", flush=True)
            self.write_status(force=True)
            try:
                self.p.reconnect()
            except Exception:  # noqa: BLE001 - the next attempt will say why
                pass

        for attempt in Retrying(wait=wait_exponential(multiplier=0.2, max=5), stop=stop_never,
                                retry=retry_if_exception_type(Exception), before_sleep=before_sleep, reraise=True,
                                sleep=self._sleep):
            with attempt:
                if self.stop.is_set() and attempt.retry_state.attempt_number > 1:
                    return
                fn()

    def _sleep(self, seconds: float) -> None:
        self.stop.wait(seconds)


def _flush(producer: Producer) -> None:
    left = producer.flush(10)
    if left:
        raise RuntimeError(f"{left} message(s) not acknowledged by Kafka")
