"""The CDC topics' value schema versions (the Kafka panel's ``schema users v2 +bio`` line), read off the frame's
path in the background (``KafkaAdmin.read_ranges``, ``pipeline.schemas.SchemaLog``)."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import threading
from typing import Any

from polydemo.dashboard.model import SchemaField, TopicSchema
from polydemo.dashboard.sources import TIMEOUT, BaseSource, Frame, short

log = logging.getLogger(__name__)

CDC_TOPICS = ("users", "follows")  # the topics whose value schema versions the dashboard shows
SCHEMA_READ_S = 0.5  # at most this long per background read of the CDC topics' new messages (schema versions)
FIRST_SCHEMA_READ_S = 3.0  # the first read takes their history (a large one over the next reads too)
FIRST_SCHEMA_WAIT_S = 1.0  # how long the first frame (a one-shot `snapshot`) waits for that read; then "(reading)"


class SchemasSource(BaseSource):
    """Each frame starts the next read in the background (when the last one is done) and shows what the last one
    found, so a long history (200,000 sign-ups after a few `load`s) costs the frames nothing. The very first
    frame (and a one-shot ``snapshot``) waits for its read, for up to FIRST_SCHEMA_WAIT_S."""

    name = "schemas"
    needs = ("kafka",)  # the high watermarks of this frame
    gateways = ("kafka",)  # its reads use the Kafka gateway's consumer

    def __init__(self, settings, stores, timeout: float = TIMEOUT):
        self.settings, self.stores, self.timeout = settings, stores, timeout
        self._logs: dict[str, Any] = {}  # topic -> pipeline.schemas.SchemaLog
        self._pos: dict[tuple[str, int], int] = {}  # (topic, partition) -> the next offset to read
        self._ids: dict[str, str] = {}  # topic -> its id when read (reset recreates the topics)
        self._highs: dict[tuple[str, int], int] = {}
        self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="polydemo-schemas")
        self._future: cf.Future | None = None
        self._view: list[TopicSchema] | None = None  # what the last finished read found
        self._waited = False
        self._closing = threading.Event()  # set by close(): a read in progress ends at its next batch

    def collect(self, frame: Frame) -> list[TopicSchema] | None:
        """None (the frame keeps the last versions) when Kafka did not answer in this frame."""
        kd = frame.upstream("kafka")
        if kd is None:
            return None
        fut = self._future
        if fut is None or fut.done():
            if fut is not None:
                try:
                    self._view = fut.result()
                except Exception as exc:  # noqa: BLE001 - shown as before; the next read tries again
                    log.debug("schema read failed: %s", short(exc))
            fut = self._future = self._pool.submit(self._read, kd, self._view is None)
        if not self._waited:  # once: later frames never wait for a read
            self._waited = True
            with contextlib.suppress(cf.TimeoutError):
                self._view = fut.result(timeout=FIRST_SCHEMA_WAIT_S)
        return self._view

    def _read(self, kd, first: bool) -> list[TopicSchema]:
        """Read the messages that arrived since the last read (the positions are kept; the first read takes the
        history for up to FIRST_SCHEMA_READ_S, a longer one continues in the next reads); a topic whose id
        changed (``reset``) or whose end went back is read again from its start."""
        from polydemo.pipeline.events import topics
        from polydemo.pipeline.schemas import SchemaLog

        names = topics(self.settings.topic_prefix)
        cdc = {names[k]: k for k in CDC_TOPICS}
        highs = {(p.topic, p.partition): p.high for p in kd.partitions if p.topic in cdc}
        kafka = self.stores.kafka
        if highs != self._highs or not self._ids:  # an idle stack costs no request
            ids = kafka.topic_ids(list(cdc), timeout=self.timeout)
            for t in cdc:
                went_back = any(highs.get(tp, 0) < pos for tp, pos in self._pos.items() if tp[0] == t)
                gone = t not in ids or not any(tp[0] == t for tp in highs)
                if went_back or gone or (t in self._ids and ids.get(t) != self._ids[t]):
                    self._logs.pop(t, None)
                    self._pos = {tp: pos for tp, pos in self._pos.items() if tp[0] != t}
                    self._ids.pop(t, None)
            self._ids.update(ids)

        def see(m) -> None:
            _, ts = m.timestamp()
            self._logs.setdefault(m.topic(), SchemaLog()).see_message(
                m.value(), (int(ts or 0), m.partition() or 0, m.offset() or 0)
            )

        reached = kafka.read_ranges(
            self._pos,
            highs,
            see,
            budget=FIRST_SCHEMA_READ_S if first or not self._pos else SCHEMA_READ_S,
            stop=self._closing,
        )
        self._pos.update(reached)
        self._highs = highs
        out = []
        for t, name in cdc.items():
            if not any(tp[0] == t for tp in highs):
                continue  # no such topic (yet)
            view = self._logs.get(t, SchemaLog()).view()
            out.append(
                TopicSchema(
                    name,
                    view.version,
                    view.versions,
                    [SchemaField(f.name, f.type, f.optional) for f in view.fields],
                    list(view.diff.added),
                    list(view.diff.removed),
                    list(view.diff.changed),
                    view.messages,
                    any(self._pos.get(tp, 0) < h for tp, h in highs.items() if tp[0] == t),
                )
            )
        return out

    def close(self) -> None:
        """Stop reading; a read in progress uses the Kafka gateway's consumer: it ends (at its next batch) first."""
        self._closing.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._future is not None:
            try:
                self._future.result(timeout=FIRST_SCHEMA_READ_S + 1.0)
            except Exception as exc:  # noqa: BLE001 - closing: the read's error (or timeout) changes nothing now
                log.debug("schema read ended at close: %s", short(exc))
