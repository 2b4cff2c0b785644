"""One frame of dashboard data, gathered concurrently from every source (dashboard/sources/) with a deadline.

:meth:`Collector.collect` never raises: each source's error is caught, and a store that fails (or does not
answer within the frame's deadline) becomes a ``down`` entry whose first-failure time is carried over from the
previous frame ("down since 12:04:31").

A :class:`Collector` keeps its connections (a ``stores.Stores`` bundle) between frames, so a frame costs a few
queries, not a few handshakes; whoever draws frames owns one and closes it (``with Collector(...) as c``). A
source that is still blocked from an earlier frame (a paused server) is not started again; a store that was
down in the previous frame is retried in the background without holding the frame up, so the dashboard keeps
its refresh rate in a drill.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import time
from typing import Any

from polydemo import diskspace
from polydemo.config import SERVICES, Settings
from polydemo.dashboard.model import KafkaData, ServiceHealth, Snapshot
from polydemo.dashboard.sources import FIRST_TIMEOUT, TIMEOUT, Frame, Source, default_label, short
from polydemo.dashboard.sources.feed import FEED_SIZE

log = logging.getLogger(__name__)

GRACE = 0.02  # how long a frame waits for stores that were down (they are retried in the background)


def default_sources(settings: Settings, stores, timeout: float = TIMEOUT, feed_size: int = FEED_SIZE) -> list[Source]:
    """One source per panel, in the order they start (a source comes after those it ``needs``)."""
    from polydemo.dashboard.sources.connect import ConnectSource
    from polydemo.dashboard.sources.feed import FeedSource
    from polydemo.dashboard.sources.kafka import KafkaSource
    from polydemo.dashboard.sources.mongo import MongoSource
    from polydemo.dashboard.sources.neo4j import Neo4jSource
    from polydemo.dashboard.sources.postgres import PostgresSource
    from polydemo.dashboard.sources.redis import RedisSource
    from polydemo.dashboard.sources.schemas import SchemasSource
    from polydemo.dashboard.sources.timeseries import TimeseriesSource

    return [
        PostgresSource(stores),
        TimeseriesSource(stores),
        MongoSource(settings, stores),
        Neo4jSource(stores, timeout),
        KafkaSource(settings, stores, timeout),
        ConnectSource(settings, stores),
        RedisSource(stores),
        FeedSource(settings, stores, feed_size),
        SchemasSource(settings, stores, timeout),
    ]


def broker_services(
    settings: Settings, kafka: KafkaData | None, kafka_error: str | None, prev: Snapshot | None, now: float
) -> list[ServiceHealth]:
    """Cluster mode: brokers 2 and 3 (``kafka-2``, ``kafka-3``) as services of their own, healthy while the
    cluster metadata of this frame lists them (``kafka`` stands for the cluster, as the gateway reaches it
    through any broker). None outside cluster mode. Pure."""
    out = []
    for n in settings.broker_ids()[1:]:
        name, label = settings.broker_service(n), f"broker {n} of {settings.kafka_brokers}"
        if kafka is not None and n in kafka.brokers:
            out.append(ServiceHealth(name, True, label))
            continue
        err = f"broker {n} not in the cluster metadata" if kafka is not None else (kafka_error or "Kafka not answering")
        before = prev.service(name) if prev else None
        since = before.down_since if before is not None and not before.ok and before.down_since else now
        out.append(ServiceHealth(name, False, label, err, since))
    return out


def mark_disks(snap: Snapshot, settings: Settings, statvfs: diskspace.StatVfs | None = None) -> None:
    """Each service whose data directory is full or low gets ``disk`` and ``disk_line`` (a statvfs per service:
    microseconds, so every frame)."""
    by_name = {s.name: s for s in snap.services}
    found = diskspace.check(settings, list(by_name), statvfs) if statvfs else diskspace.check(settings, list(by_name))
    for u in found:
        if u.state != "ok":
            svc = by_name[u.service]
            svc.disk, svc.disk_line = u.state, diskspace.line(u, running=svc.ok)


class Collector:
    """The sources, the long-lived gateways they ask, and the thread pool they run on. ``sources`` (a seam for
    tests): instead of :func:`default_sources`; ``projectors``: instead of the projector rows' source."""

    def __init__(
        self,
        settings: Settings,
        runtime_name: str = "local",
        timeout: float = TIMEOUT,
        feed_size: int = FEED_SIZE,
        sources: list[Source] | None = None,
        projectors: Source | None = None,
    ):
        from polydemo.dashboard.sources.projectors import ProjectorsSource
        from polydemo.stores import Stores, import_clients

        import_clients()  # here, once, not in the source threads (imports take a lock)

        self.settings = settings
        self.runtime_name = runtime_name
        self.timeout = timeout
        self.stores = Stores(settings, timeout=timeout)  # one gateway per store, short timeouts, kept between frames
        self.sources = sources if sources is not None else default_sources(settings, self.stores, timeout, feed_size)
        self.projectors = projectors if projectors is not None else ProjectorsSource(settings)
        self._pool = cf.ThreadPoolExecutor(max_workers=len(self.sources) + 2, thread_name_prefix="polydemo-dashboard")
        self._pending: dict[str, tuple[cf.Future, float]] = {}
        self._warm = False
        self._last_error: dict[str, str | None] = {}
        self.closed = False

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def source(self, name: str) -> Source | None:
        return next((s for s in self.sources if s.name == name), None)

    # ------------------------------------------------------------ frame
    def collect(self, prev: Snapshot | None = None) -> Snapshot:
        try:
            return self._collect(prev)
        except Exception as exc:  # broad: a frame is always drawn (every service shown down, with the error)
            log.debug("frame not collected", exc_info=True)
            now = time.time()
            return Snapshot(now, self.runtime_name, [self._down(s, short(exc), prev, now, None) for s in SERVICES])

    def _collect(self, prev: Snapshot | None) -> Snapshot:
        t0 = time.perf_counter()
        now = time.time()
        deadline = t0 + (self.timeout if self._warm else max(self.timeout, FIRST_TIMEOUT))
        self._warm = True
        carried: dict[str, tuple] = {}
        fresh: dict[str, cf.Future] = {}
        suspect: set[str] = set()
        for src in self.sources:
            name = src.name
            pending = self._pending.get(name)
            if pending is not None:
                fut, _ = pending
                if fut.done():
                    carried[name] = fut.result()
                    del self._pending[name]
                else:
                    suspect.add(name)  # still blocked since an earlier frame: do not pile up another
                    continue
            if prev is not None and name in SERVICES and not prev.ok(name):
                suspect.add(name)  # down last frame: retry in the background, do not hold the frame up
            upstream = {n: (p[0] if (p := self._pending.get(n)) else None, n in suspect) for n in src.needs}
            fut = self._pool.submit(self._run, src, Frame(deadline, upstream))
            self._pending[name] = (fut, now)
            fresh[name] = fut
        projectors = self.projectors.collect(Frame(deadline))
        waited = [f for n, f in fresh.items() if n not in suspect]
        if waited:
            cf.wait(waited, timeout=max(0.0, deadline - time.perf_counter()))
        others = [f for n, f in fresh.items() if n in suspect]
        if others:  # a store that just came back shows at once
            cf.wait(others, timeout=max(0.0, min(GRACE, deadline - time.perf_counter())))

        results: dict[str, tuple] = {}
        for src in self.sources:
            name = src.name
            pending = self._pending.get(name)
            done = pending[0] if pending is not None else None
            submitted = pending[1] if pending is not None else now
            if done is not None and done.done():
                results[name] = done.result()
                del self._pending[name]
            elif name in carried:
                results[name] = carried[name]
            elif self._last_error.get(name):  # still retrying: say why it failed last time
                results[name] = (None, None, self._last_error[name])
            else:
                results[name] = (None, None, f"no answer for {max(now - submitted, self.timeout):.1f}s")
            self._last_error[name] = results[name][2]

        snap = Snapshot(taken_at=now, runtime=self.runtime_name, projectors=projectors)
        for svc in SERVICES:
            if svc not in results:
                continue  # no source for it (a collector built with some sources only)
            data, ms, err = results[svc]
            if err is None:
                snap.services.append(ServiceHealth(svc, True, self._label(svc), None, None, ms))
                setattr(snap, svc, data)
            else:
                snap.services.append(self._down(svc, err, prev, now, ms))
            if svc == "kafka":
                snap.services += broker_services(self.settings, snap.kafka, err, prev, now)
        if self.runtime_name == "local":
            mark_disks(snap, self.settings)
        feed = results.get("feed", (None,))[0]
        snap.feed = feed if feed is not None else (list(prev.feed) if prev else [])
        schemas = results.get("schemas", (None,))[0]
        snap.schemas = schemas if schemas is not None else (list(prev.schemas) if prev else [])
        snap.collect_ms = round((time.perf_counter() - t0) * 1000, 2)
        return snap

    def _label(self, svc: str) -> str:
        src = self.source(svc)
        return (src.label if src is not None else None) or default_label(svc)

    def _down(self, svc: str, err: str, prev: Snapshot | None, now: float, ms: float | None) -> ServiceHealth:
        before = prev.service(svc) if prev else None
        since = before.down_since if before is not None and not before.ok and before.down_since else now
        return ServiceHealth(svc, False, self._label(svc), err, since, ms)

    @staticmethod
    def _run(src: Source, frame: Frame) -> tuple[Any, float, str | None]:
        t = time.perf_counter()
        try:
            data = src.collect(frame)
            return data, round((time.perf_counter() - t) * 1000, 2), None
        except Exception as exc:  # noqa: BLE001 - every source's error is caught here
            return None, round((time.perf_counter() - t) * 1000, 2), short(exc)

    # ------------------------------------------------------------ shutdown
    def busy(self) -> list[str]:
        """Sources still blocked (on a paused server, say)."""
        return [n for n, (f, _) in self._pending.items() if not f.done()]

    def close(self) -> list[str]:
        """Close every source and gateway; returns the sources still blocked (their threads end when their
        socket does). A gateway a blocked source uses is left to it."""
        self.closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        for src in reversed(self.sources):  # their own threads and clients; a read in progress ends first
            try:
                src.close()
            except Exception as exc:  # noqa: BLE001 - closing what already broke: nothing left to do
                log.debug("closing the %s source: %s", src.name, short(exc))
        stuck = self.busy()
        in_use = {g for src in self.sources if src.name in stuck for g in src.gateways}
        for gateway in dict.fromkeys(g for src in self.sources for g in src.gateways):
            if gateway not in in_use:
                self.stores.drop(gateway)
        return stuck
