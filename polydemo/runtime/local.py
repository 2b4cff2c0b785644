"""The local runtime: every server is an OS process under the run directory.

Layout under ``settings.home`` (default ``.polydemo/``)::

    data/<service>/   the server's own data directory
    logs/<service>.log
    run/<service>.pid "<pid> <create_time>"

``up`` checks everything first (installed, ports free) and starts nothing if a check fails;
then it starts services concurrently (a service waits for those it depends on), waits for
each probe to pass, and on any failure stops what this call started (unless ``keep``).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import psutil

from polydemo import diskspace, procs
from polydemo.config import Settings
from polydemo.errors import PolydemoError, PortInUseError, ServiceStartError
from polydemo.runtime import cds
from polydemo.runtime.base import ProgressFn, Runtime, ServiceStatus, UpResult, _ignore
from polydemo.runtime.services import Problem, ServiceSpec, specs_for
from polydemo.stores import Health, health_of

PROBE_INTERVAL = 0.25
PORT_SETTLE_S = 30.0  # how long `up` waits for a port that only a client's connection holds (LocalRuntime._settled)


class LocalRuntime(Runtime):
    name = "local"

    statvfs: diskspace.StatVfs = staticmethod(os.statvfs)  # a seam: the unit tests hand in a full disk

    def __init__(self, settings: Settings, specs: dict[str, ServiceSpec] | None = None):
        super().__init__(settings)
        self.specs = specs or specs_for(settings)

    def all_services(self) -> list[str]:
        """The specs' services: the seven, plus ``kafka-2`` and ``kafka-3`` in cluster mode (``kafka`` is
        broker 1; Connect depends on all three)."""
        return list(self.specs)

    def controller_leader(self) -> tuple[int, int] | None:
        return controller_leader(self.settings)

    # ------------------------------------------------------------------ checks
    def problems(self, services: Iterable[str] | None = None) -> dict[str, list[Problem]]:
        return {name: self.specs[name].requirements(self.settings) for name in self.select(services)}

    def port_clashes(self, services: Iterable[str]) -> list[tuple[str, int, str | None]]:
        """(service, port, owner) for every port a not-running service needs but is taken."""
        clashes = []
        for name in services:
            if procs.alive(self.settings.pid_file(name)):
                continue
            spec = self.specs[name]
            for port_name in (name, *spec.extra_ports):
                port = self.settings.port(port_name)
                if not procs.port_free(port, self.settings.host):
                    clashes.append((port_name, port, procs.port_owner(port)))
        return clashes

    def disk_usage(self, services: Iterable[str]) -> list[diskspace.DiskUsage]:
        return diskspace.check(self.settings, services, self.statvfs)

    def log_tail(self, service: str, lines: int = 200) -> str:
        return procs.tail(self.settings.log_file(service), lines)

    def full_disks(self, services: Iterable[str]) -> list[diskspace.DiskUsage]:
        """The data directories that are full, of the services that are not running (a server started on a full
        disk dies in its first seconds: Postgres cannot write its end-of-recovery checkpoint)."""
        stopped = [n for n in services if not procs.alive(self.settings.pid_file(n))]
        return diskspace.full(diskspace.check(self.settings, stopped, self.statvfs))

    def preflight(self, services: list[str], progress: ProgressFn = _ignore) -> None:
        missing = {n: p for n, p in self.problems(services).items() if p and not procs.alive(self.settings.pid_file(n))}
        if missing:
            first_service, first = next(iter(missing.items()))
            lines = [f"{svc}: {p.what}" for svc, ps in missing.items() for p in ps]
            raise PolydemoError(
                f"{first_service} cannot start: {first[0].what}",
                hint=f"{first[0].fix}; `polydemo doctor` lists every problem",
                details="\n".join(lines) if len(lines) > 1 else None,
            )
        full = self.full_disks(services)
        if full:
            u = full[0]
            raise PolydemoError(
                f"{u.service} cannot start: its {u.what.split(' ', 1)[1]} is full "
                f"({diskspace.human(u.free_bytes)} free of {diskspace.human(u.total_bytes)} at {u.path})",
                hint="free space there, then `polydemo up` again; `polydemo status` names every full directory",
                details="\n".join(diskspace.line(x, running=False) for x in full[1:]) or None,
            )
        clashes = self._settled(self.port_clashes(services), services, progress)
        if clashes:
            svc, port, owner = clashes[0]
            clients = procs.port_clients(port) if owner is None else []
            who = f" by {owner}" if owner else (f" by a client connection of {', '.join(clients)}" if clients else "")
            env = f"POLYDEMO_{svc.upper().replace('-', '_')}_PORT"
            ephemeral = procs.ephemeral_range()
            why = (
                f"; {port} is in the kernel's ephemeral port range ({ephemeral[0]}-{ephemeral[1]}), where clients' "
                "own connections can take it: choose ports below it"
                if clients and ephemeral and ephemeral[0] <= port <= ephemeral[1]
                else ""
            )
            raise PortInUseError(
                f"port {port} for {svc} is already in use{who}",
                hint=f"stop that process, or choose another port with {env}=<port> "
                f"(or shift every port with POLYDEMO_PORT_OFFSET){why}",
                details="\n".join(f"{s}: port {p} in use{(' by ' + o) if o else ''}" for s, p, o in clashes[1:])
                or None,
            )

    def _settled(
        self, clashes: list[tuple[str, int, str | None]], services: list[str], progress: ProgressFn = _ignore
    ) -> list:
        """The clashes still there after up to PORT_SETTLE_S, when every one is a client's connection, not a
        listener (procs.port_clients: a client of a server that was down, given the server's port as its own
        ephemeral port, lets go of it when its connection fails). A listener is a clash at once."""
        deadline = time.monotonic() + PORT_SETTLE_S
        while clashes and time.monotonic() < deadline:
            if any(owner is not None or not procs.port_clients(port) for _, port, owner in clashes):
                return clashes
            for svc, port, _ in clashes:
                who = ", ".join(procs.port_clients(port))
                progress(svc, "waiting", f"port {port} held by a client connection of {who}, until it closes")
            time.sleep(0.5)
            clashes = self.port_clashes(services)
        return clashes

    # ------------------------------------------------------------------ up
    def up(self, services: Iterable[str] | None = None, keep: bool = False, progress: ProgressFn = _ignore) -> UpResult:
        t0 = time.monotonic()
        wanted = self.select(services)
        # A service's dependencies come up with it.
        for name in list(wanted):
            for dep in self.specs[name].depends_on:
                if dep not in wanted:
                    wanted.append(dep)
        wanted = self.select(wanted)
        for d in (self.settings.logs_dir, self.settings.run_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.preflight(wanted, progress)

        already = [n for n in wanted if procs.alive(self.settings.pid_file(n))]
        to_start = [n for n in wanted if n not in already]
        for n in already:
            progress(n, "running", "already running")
        started: list[str] = []
        lock = threading.Lock()
        ready: dict[str, threading.Event] = {n: threading.Event() for n in wanted}
        failed = threading.Event()
        for n in already:
            ready[n].set()

        def bring_up(name: str) -> None:
            spec = self.specs[name]
            for dep in spec.depends_on:
                progress(name, "waiting", f"for {dep}")
                while not ready[dep].wait(0.2):
                    if failed.is_set():
                        raise _Aborted()
            if failed.is_set():
                raise _Aborted()
            progress(name, "starting", "preparing")
            try:
                spec.prepare(self.settings)
            except Exception as exc:
                raise self._start_error(name, f"{name} failed to prepare: {exc}") from exc
            pid_file = self.settings.pid_file(name)
            record = procs.spawn(
                self._argv(name, spec),
                self.settings.log_file(name),
                pid_file,
                env=spec.env(self.settings),
                cwd=self.settings.data_dir(name).parent,
                user=spec.user(),
            )
            with lock:
                started.append(name)
            progress(name, "starting", f"pid {record.pid}")
            self._wait_healthy(name, spec, progress, failed)
            try:
                spec.after_ready(self.settings)
            except Exception as exc:
                raise self._start_error(name, f"{name} started but its set-up step failed: {exc}") from exc
            ready[name].set()
            progress(name, "healthy", f"pid {record.pid}")

        errors: list[BaseException] = []
        if to_start:
            with cf.ThreadPoolExecutor(max_workers=len(to_start)) as pool:
                futures = {pool.submit(bring_up, n): n for n in to_start}
                for fut in cf.as_completed(futures):
                    exc = fut.exception()
                    if exc is not None and not isinstance(exc, _Aborted):
                        failed.set()
                        errors.append(exc)
                        progress(futures[fut], "failed", str(exc))
        if errors:
            if not keep:
                self._stop(list(reversed(started)), progress)
            err = errors[0]
            if isinstance(err, PolydemoError):
                if not keep and started:
                    err.hint = (
                        err.hint or ""
                    ) + f" (stopped what this run started: {', '.join(started)}; use --keep to leave it running)"
                raise err
            raise ServiceStartError(str(err))
        return UpResult(
            started=started, already_running=already, statuses=self.status(wanted), seconds=time.monotonic() - t0
        )

    def _argv(self, name: str, spec: ServiceSpec) -> list[str]:
        """The service's command line; a JVM's maps its class archive, or writes one at a clean exit."""
        argv = spec.argv(self.settings)
        if not (spec.class_archive and self.settings.class_archives):
            return argv
        record_file = self._archive_record(name)
        cds.settle(record_file, clean=False)  # a JVM of this service that ended without our stop
        argv, plan = cds.apply(self.settings.archive_dir, argv)
        cds.record(record_file, plan)
        return argv

    def _archive_record(self, name: str) -> Path:
        return self.settings.run_dir / f"{name}.cds"

    def _stopped(self, name: str, outcome: str) -> str:
        """After a stop: a JVM that exited by itself wrote its class archive, one that was killed did not."""
        if self.specs[name].class_archive:
            cds.settle(self._archive_record(name), clean=outcome == "stopped")
        return outcome

    def _start_error(self, name: str, message: str) -> ServiceStartError:
        spec = self.specs[name]
        log = self.settings.log_file(name)
        return ServiceStartError(
            message, hint=f"{spec.hint + '; ' if spec.hint else ''}full log: {log}", details=procs.tail(log, 15)
        )

    def _wait_healthy(self, name: str, spec: ServiceSpec, progress: ProgressFn, failed: threading.Event) -> None:
        timeout = spec.start_timeout or self.settings.start_timeout
        deadline = time.monotonic() + timeout
        last = Health(False, "not probed yet")
        while time.monotonic() < deadline:
            if failed.is_set():
                raise _Aborted()
            if procs.alive(self.settings.pid_file(name)) is None:
                raise self._start_error(name, f"{name} exited during start-up")
            last = spec.probe(self.settings)
            if last.ok:
                return
            time.sleep(PROBE_INTERVAL)
        raise self._start_error(name, f"{name} was not healthy after {timeout:.0f}s ({last.detail})")

    # ------------------------------------------------------------------ down
    def down(self, services: Iterable[str] | None = None, progress: ProgressFn = _ignore) -> dict[str, str]:
        wanted = self.select(services)
        # Dependants first: Connect before Kafka.
        order = sorted(wanted, key=lambda n: 0 if self.specs[n].depends_on else 1)
        return self._stop(order, progress)

    def _stop(self, names: list[str], progress: ProgressFn) -> dict[str, str]:
        outcomes: dict[str, str] = {}
        first = [n for n in names if self.specs[n].depends_on]
        rest = [n for n in names if n not in first]
        for group in (first, rest):
            if not group:
                continue
            with cf.ThreadPoolExecutor(max_workers=len(group)) as pool:
                futs = {}
                for n in group:
                    self._resume_if_paused(n)
                    progress(n, "stopping", "")
                    futs[
                        pool.submit(
                            procs.stop, self.settings.pid_file(n), self.specs[n].stop_signal, self.settings.stop_timeout
                        )
                    ] = n
                for fut in cf.as_completed(futs):
                    n = futs[fut]
                    outcomes[n] = self._stopped(n, fut.result())
                    progress(n, outcomes[n], "")
        return outcomes

    # ------------------------------------------------------------------ status
    def status(self, services: Iterable[str] | None = None) -> list[ServiceStatus]:
        names = self.select(services)
        with cf.ThreadPoolExecutor(max_workers=len(names)) as pool:
            return list(pool.map(self._status_one, names))

    def _status_one(self, name: str) -> ServiceStatus:
        spec = self.specs[name]
        proc = procs.alive(self.settings.pid_file(name))
        engine, version = spec.engine, None
        if proc is None:
            return ServiceStatus(
                name, engine, None, self.settings.port(name), None, "stopped", "not running", None, None
            )
        try:
            paused = proc.status() == psutil.STATUS_STOPPED
        except psutil.Error:
            paused = False
        uptime = time.time() - proc.create_time()
        rss = procs.tree_rss(proc)
        if paused:
            return ServiceStatus(
                name,
                engine,
                None,
                self.settings.port(name),
                proc.pid,
                "paused",
                "SIGSTOP (paused by a drill)",
                uptime,
                rss,
            )
        health = spec.probe(self.settings) if name.startswith("kafka") else health_of(name, self.settings)
        if name == "timeseries" and health.version:
            engine, version = health.version, None
        else:
            version = health.version
        return ServiceStatus(
            name,
            engine,
            version,
            self.settings.port(name),
            proc.pid,
            "healthy" if health.ok else "unhealthy",
            health.detail,
            uptime,
            rss,
        )

    def log_path(self, service: str) -> Path | None:
        self.select([service])
        return self.settings.log_file(service)

    # ------------------------------------------------------------------ drills
    def stop_service(self, service: str) -> str:
        self.select([service])
        self._resume_if_paused(service)
        return self._stopped(
            service,
            procs.stop(self.settings.pid_file(service), self.specs[service].stop_signal, self.settings.stop_timeout),
        )

    def kill_service(self, service: str) -> str:
        self.select([service])
        return "killed" if procs.kill9(self.settings.pid_file(service)) else "not running"

    def start_service(self, service: str) -> str:
        result = self.up([service])
        return "already running" if service in result.already_running else "started"

    def pause_service(self, service: str) -> str:
        proc = procs.alive(self.settings.pid_file(service))
        if proc is None:
            return "not running"
        for p in [proc, *procs.descendants(proc)]:
            with contextlib.suppress(psutil.NoSuchProcess):  # a child (a Postgres backend) ending meanwhile
                p.send_signal(signal.SIGSTOP)
        return "paused"

    def resume_service(self, service: str) -> str:
        return "resumed" if self._resume_if_paused(service) else "not paused"

    def _resume_if_paused(self, service: str) -> bool:
        proc = procs.alive(self.settings.pid_file(service))
        if proc is None:
            return False
        try:
            if proc.status() != psutil.STATUS_STOPPED:
                return False
            for p in [proc, *procs.descendants(proc)]:
                with contextlib.suppress(psutil.NoSuchProcess):  # every one is resumed, whichever ended
                    p.send_signal(signal.SIGCONT)
        except psutil.Error:
            return False
        return True


class _Aborted(Exception):
    """Another service failed; this one stops waiting."""


def controller_leader(settings: Settings) -> tuple[int, int] | None:
    """(leader id, epoch) of the KRaft controller quorum as the nodes' ``quorum-state`` files record it
    (each voter rewrites its file on every election; the highest epoch wins); None when none has one."""
    import json

    best: tuple[int, int] | None = None
    for n in settings.broker_ids():
        path = settings.data_dir(settings.broker_service(n)) / "log" / "__cluster_metadata-0" / "quorum-state"
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a broker that has not written (or is rewriting) its quorum state: ask the next
        leader, epoch = doc.get("leaderId", -1), doc.get("leaderEpoch", -1)
        if isinstance(leader, int) and leader >= 0 and (best is None or epoch > best[1]):
            best = (leader, int(epoch))
    return best
