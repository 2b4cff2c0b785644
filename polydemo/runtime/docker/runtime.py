"""DockerRuntime: the Runtime interface over the Compose project (``up``, ``down``, ``status``, logs) and its
containers (the drills). The concerns are in the package's other modules, which this class puts together:

* :mod:`.compose` the project's files and ``docker compose`` commands (``ComposeProject``, the subprocess seam);
* :mod:`.engine` the Docker SDK client and the project's containers (``Engine``);
* :mod:`.cluster` Kafka cluster mode (which services are brokers, the mixed-mode guard, the quorum leader);
* :mod:`.drills` stop, kill, start, pause and resume one container (``Drills``);
* :mod:`.output` and :mod:`.failures` Compose's output read, and its failures as one clear error (pure).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import re
import time
from collections.abc import Iterable
from pathlib import Path

from polydemo.config import Settings
from polydemo.errors import PolydemoError, ServiceStartError
from polydemo.runtime.base import ProgressFn, Runtime, ServiceStatus, UpResult, _ignore
from polydemo.runtime.docker import cluster
from polydemo.runtime.docker.compose import PULL_TIMEOUT, ComposeProject
from polydemo.runtime.docker.drills import Drills
from polydemo.runtime.docker.engine import Engine
from polydemo.runtime.docker.failures import (
    DEFAULT_WAIT_TIMEOUT,
    engine_lost_error,
    missing_image_hint,
    pull_error,
    up_error,
)
from polydemo.runtime.docker.output import (
    COMPOSE_FILE,
    PROJECT,
    ComposeResult,
    _compose_progress,
    _error_line,
    _failed_services,
    _pull_progress,
    _started_seconds,
    compose_images,
    compose_services,
)
from polydemo.stores import Health

log = logging.getLogger(__name__)

# What Compose's depends_on says (docker-compose.yml): a service comes up with these.
DEPENDS_ON: dict[str, tuple[str, ...]] = {"connect": ("kafka",)}

ENGINES = {
    "postgres": "PostgreSQL",
    "timeseries": "TimescaleDB (PostgreSQL)",
    "redis": "Redis",
    "mongo": "MongoDB (replica set rs0)",
    "neo4j": "Neo4j Community",
    "kafka": "Apache Kafka (KRaft)",
    "kafka-2": "Apache Kafka (KRaft, broker 2 of 3)",
    "kafka-3": "Apache Kafka (KRaft, broker 3 of 3)",
    "connect": "Kafka Connect + Debezium",
}

# Connect, inside the compose network, reaches Postgres by service name on the container port.
CONNECTOR_OVERRIDES = {"database.hostname": "postgres", "database.port": "5432"}


DATA_PATHS = {
    "postgres": "/var/lib/postgresql/data",
    "timeseries": "/var/lib/postgresql/data",
    "redis": "/data",
    "mongo": "/data/db",
    "neo4j": "/data",
    "kafka": "/var/lib/kafka/data",
    "connect": "/kafka/data",
}
"""Where each official image keeps its data (docker-compose.yml mounts a volume there)."""


def container_disk(service: str, c):
    """The free space of a running container's data directory: ``df -Pk`` in it (None when it cannot say)."""
    from polydemo import diskspace

    path = DATA_PATHS.get(service.split("-")[0])
    if path is None:
        return None
    try:
        res = c.exec_run(["df", "-Pk", path])
    except Exception:  # noqa: BLE001 - docker.errors.APIError (a container stopping): no answer this time
        return None
    out = res.output.decode("utf-8", "replace") if isinstance(res.output, bytes) else str(res.output)
    sizes = diskspace.parse_df(out) if res.exit_code == 0 else None
    if sizes is None:
        return None
    volume = next((m.get("Name") for m in c.attrs.get("Mounts") or [] if m.get("Destination") == path), None)
    return diskspace.usage_of(service, f"{path} (volume {volume})" if volume else path, *sizes)


def _host_probe(name: str, settings: Settings) -> Health:
    """The same store probe as the local runtime, from the host through the published port."""
    from polydemo.stores import health_of

    return health_of(name, settings)


def _broker_probe(name: str, settings: Settings) -> Health:
    """Cluster mode: one broker, through its own published port, as the local runtime probes it (it answers
    and the cluster's metadata lists it)."""
    from polydemo.stores import kafka

    node = 1 if name == "kafka" else int(name.rsplit("-", 1)[1])
    return kafka.broker_health(settings, node)


class DockerRuntime(Runtime):
    name = "docker"

    def __init__(
        self,
        settings: Settings,
        compose_file: Path = COMPOSE_FILE,
        project: str = PROJECT,
        overrides: list[Path] | None = None,
    ):
        super().__init__(settings)
        self.compose = ComposeProject(settings, compose_file, project, overrides)
        self.engine = Engine(self.compose)
        self.drills = Drills(self)

    # ------------------------------------------------------------------ the project
    @property
    def project(self) -> str:
        return self.compose.name

    @property
    def compose_files(self) -> list[Path]:
        return self.compose.files

    def compose_env(self) -> dict[str, str]:
        return self.compose.env()

    def compose_argv(self, *args: str) -> list[str]:
        return self.compose.argv(*args)

    def delete_volumes_command(self) -> str:
        return self.compose.delete_volumes_command()

    def data_location(self) -> str:
        return f"the Docker volumes of project {self.project} (`{self.delete_volumes_command()}` deletes them)"

    def depends_on(self, service: str) -> tuple[str, ...]:
        """What Compose's depends_on says: Connect needs Kafka (every broker in cluster mode)."""
        if service == "connect":
            return tuple(n for n in self.all_services() if n.startswith("kafka"))
        return DEPENDS_ON.get(service, ())

    @staticmethod
    def connector_overrides() -> dict[str, str]:
        """Keys to replace in the Debezium connector config: Connect reaches Postgres as postgres:5432."""
        return dict(CONNECTOR_OVERRIDES)

    def controller_leader(self) -> tuple[int, int] | None:
        return cluster.controller_leader(self.all_services(), self.engine.containers)

    def preflight(self) -> None:
        """In order: the docker command, the engine, Compose v2 (>= 2.17), the compose files."""
        self.compose.require_cli()
        self.engine.client()
        self.compose.require_version()
        self.compose.require_files()

    def wait_timeout(self) -> float:
        return max(self.settings.start_timeout, DEFAULT_WAIT_TIMEOUT)

    @staticmethod
    def _row_healthy(row: dict | None) -> bool:
        return (
            row is not None
            and str(row.get("State", "")).lower() == "running"
            and str(row.get("Health", "")).lower() == "healthy"
        )

    @staticmethod
    def _row_alive(row: dict | None) -> bool:
        return row is not None and str(row.get("State", "")).lower() in ("running", "paused", "restarting")

    def _with_deps(self, names: list[str]) -> list[str]:
        wanted = list(names)
        for name in names:
            for dep in self.depends_on(name):
                if dep not in wanted:
                    wanted.append(dep)
        return self.select(wanted)

    # ------------------------------------------------------------------ up
    def up(self, services: Iterable[str] | None = None, keep: bool = False, progress: ProgressFn = _ignore) -> UpResult:
        t0 = time.monotonic()
        wanted = self._with_deps(self.select(services))
        for name in wanted:
            progress(name, "checking", "docker")
        self.preflight()
        before = self.compose.ps()
        cluster.refuse_other_mode(self.settings, self.project, self.engine.containers)
        already = [n for n in wanted if self._row_healthy(before.get(n))]
        to_start = [n for n in wanted if n not in already]
        for n in already:
            progress(n, "running", "already running")
        if to_start:
            nothing_alive = not any(self._row_alive(row) for row in before.values())
            # Pull first: a failed pull leaves nothing to clean up.
            self._pull_missing(to_start, progress)
            for n in to_start:
                if str((before.get(n) or {}).get("State", "")).lower() == "paused":
                    self._unpause_quietly(n)
                progress(n, "starting", "docker compose up")
            wait = self.wait_timeout()
            try:
                res = self.compose.compose(
                    "up",
                    "-d",
                    "--wait",
                    "--wait-timeout",
                    str(int(wait)),
                    *to_start,
                    timeout=wait + 120,
                    on_line=_compose_progress(progress, self.project),
                )
            except BaseException:
                if not keep:
                    self._cleanup(to_start, nothing_alive)
                raise
            if not res.ok and not self.engine.answers(res.output):
                raise engine_lost_error("up", to_start)
            if not res.ok:
                err = up_error(
                    res.output,
                    {n: self.settings.port(n) for n in self.all_services()},
                    compose_images(*self.compose.files),
                    res.timed_out,
                    wait,
                    self.project,
                )
                failed = _failed_services(res.output, self.project) or to_start
                for n in to_start:
                    if n in failed:
                        progress(n, "failed", err.message)
                bad = next((n for n in reversed(failed) if n in to_start), None)
                if bad and isinstance(err, ServiceStartError):
                    err.details = err.details or self.compose.logs_tail(bad, 15) or None
                if not keep:
                    cleanup = self._cleanup(to_start, nothing_alive)
                    if cleanup and not self.engine.answers():
                        raise engine_lost_error("up", to_start)
                    err.hint = (
                        (err.hint or "") + f" (stopped what this run started: {', '.join(to_start)}; "
                        f"use --keep to leave it running){cleanup}"
                    )
                raise err
        statuses = self._reachable_statuses(wanted)
        unreachable = [s for s in statuses if s.service in to_start and not s.healthy]
        if unreachable:
            sick = unreachable[0]
            progress(sick.service, "failed", sick.detail)
            err = ServiceStartError(
                f"{sick.service} is up in its container but not healthy from the host: {sick.detail}",
                hint=f"is something else answering on 127.0.0.1:{sick.port}? "
                f"see `polydemo --runtime docker logs {sick.service}`",
            )
            if not keep:
                cleanup = self._cleanup(to_start, nothing_alive)
                err.hint = (err.hint or "") + (
                    f" (stopped what this run started: {', '.join(to_start)}; use --keep to leave it running){cleanup}"
                )
            raise err
        for n in to_start:
            progress(n, "healthy", "container healthy")
        return UpResult(started=to_start, already_running=already, statuses=statuses, seconds=time.monotonic() - t0)

    def _reachable_statuses(self, names: list[str], grace: float = 20.0) -> list[ServiceStatus]:
        """Statuses once every container is healthy: the host-side probes get a short grace period
        (a published port can lag the container's own healthcheck by a moment)."""
        deadline = time.monotonic() + grace
        statuses = self.status(names)
        while not all(s.healthy for s in statuses) and time.monotonic() < deadline:
            time.sleep(1.0)
            statuses = self.status(names)
        return statuses

    def _pull_missing(self, services: list[str], progress: ProgressFn) -> None:
        declared = compose_services(*self.compose.files)
        images = compose_images(*self.compose.files)
        client = self.engine.client()
        missing = []
        for name in services:
            try:
                client.images.get(images[name])
            except Exception:  # noqa: BLE001 - ImageNotFound, or anything else: let compose pull say
                missing.append(name)
        if not missing:
            return
        # Images compose builds (a `build:` section): built now, before any container exists.
        to_build = [
            n
            for n in missing
            if declared.get(n, {}).get("build")
            and str(declared[n].get("pull_policy", "")).lower() in ("build", "missing", "never", "")
        ]
        if to_build:
            for name in to_build:
                progress(name, "starting", f"building {images.get(name, 'its image')}")
            res = self.compose.compose("build", *to_build, timeout=PULL_TIMEOUT)
            if not res.ok:
                bad = next(
                    (n for n in to_build if re.search(rf"\b{re.escape(n)}\b", _error_line(res.output))), to_build[0]
                )
                err = PolydemoError(
                    f"could not build the image of {bad}: {_error_line(res.output)}",
                    hint=f"see `docker compose -p {self.project} build {bad}`; nothing was started",
                )
                for name in to_build:
                    progress(name, "failed", err.message)
                raise err
            missing = [n for n in missing if n not in to_build]
            if not missing:
                return
        never = [n for n in missing if str(declared.get(n, {}).get("pull_policy", "")).lower() == "never"]
        if never:
            # Compose would skip the pull and fail later, at `up`: say it now, before anything starts.
            name = never[0]
            err = PolydemoError(
                f"the image {images[name]} of {name} is not in the Docker engine, and its pull_policy is never",
                hint=missing_image_hint(self.compose.overrides),
            )
            progress(name, "failed", err.message)
            raise err
        for name in missing:
            progress(name, "starting", f"pulling {images[name]}")
        res = self.compose.compose("pull", *missing, timeout=PULL_TIMEOUT, on_line=_pull_progress(progress, missing))
        if not res.ok:
            err = pull_error(res.output, {n: images[n] for n in missing})
            for name in missing:
                progress(name, "failed", err.message)
            raise err

    def _cleanup(self, started: list[str], nothing_alive: bool) -> str:
        """Remove what an aborted ``up`` started. Returns text for the hint when even that failed."""
        t = str(int(self.settings.stop_timeout))
        if nothing_alive:
            res = self.compose.compose("down", "--timeout", t, timeout=self.settings.stop_timeout * 4 + 60)
        else:
            res = self.compose.compose("rm", "--stop", "--force", *started, timeout=self.settings.stop_timeout * 4 + 60)
        if res.ok:
            return ""
        return "; cleaning up failed too: run `docker compose -p polydemo down`"

    def _unpause_quietly(self, service: str) -> None:
        try:
            c = self.engine.containers().get(service)
            if c is not None and c.status == "paused":
                c.unpause()
        except Exception as exc:  # noqa: BLE001 - best effort: a stop that follows handles what remains
            log.debug("could not unpause %s: %s", service, exc)

    # ------------------------------------------------------------------ down
    def down(self, services: Iterable[str] | None = None, progress: ProgressFn = _ignore) -> dict[str, str]:
        wanted = self.select(services)
        self.preflight()
        before = self.compose.ps()
        alive = [n for n in wanted if self._row_alive(before.get(n))]
        for n in alive:
            if str(before[n].get("State", "")).lower() == "paused":
                self._unpause_quietly(n)
            progress(n, "stopping", "")
        t = str(int(self.settings.stop_timeout))
        if set(wanted) == set(self.all_services()):
            # The whole project: containers and network go, the named volumes (the data) stay.
            res = self.compose.compose("down", "--timeout", t, timeout=self.settings.stop_timeout * 4 + 60)
        elif alive:
            # Dependants first (Connect before Kafka), like the local runtime.
            order = sorted(alive, key=lambda n: 0 if self.depends_on(n) else 1)
            res = self.compose.compose("stop", "--timeout", t, *order, timeout=self.settings.stop_timeout * 4 + 60)
        else:
            res = ComposeResult(0, "")
        if not res.ok:
            raise PolydemoError(
                f"docker compose could not stop the stack: {_error_line(res.output)}",
                hint="see `docker compose -p polydemo ps`",
            )
        outcomes = {n: ("stopped" if n in alive else "not running") for n in wanted}
        for n in wanted:
            progress(n, outcomes[n], "")
        return outcomes

    # ------------------------------------------------------------------ status
    def status(self, services: Iterable[str] | None = None) -> list[ServiceStatus]:
        names = self.select(services)
        self.compose.require_cli()
        self.engine.client()
        containers = self.engine.containers()
        with cf.ThreadPoolExecutor(max_workers=len(names)) as pool:
            return list(pool.map(lambda n: self._status_one(n, containers.get(n)), names))

    def _status_one(self, name: str, c) -> ServiceStatus:
        port = self.settings.port(name)
        engine = ENGINES[name]
        if c is None:
            return ServiceStatus(
                name, engine, None, port, None, "stopped", "no container (run `polydemo up`)", None, None
            )
        attrs = c.attrs or {}
        state = attrs.get("State") or {}
        image = (attrs.get("Config") or {}).get("Image") or ""
        engine = f"{engine} ({image})" if image else engine
        status = state.get("Status") or c.status
        uptime = _started_seconds(state.get("StartedAt"))
        short = (c.id or "")[:12]
        if status == "paused":
            return ServiceStatus(
                name, engine, None, port, None, "paused", f"container {short} paused (by a drill)", uptime, self._rss(c)
            )
        if status not in ("running", "restarting"):
            code = state.get("ExitCode")
            return ServiceStatus(
                name,
                engine,
                None,
                port,
                None,
                "stopped",
                f"container {status}" + (f" (exit code {code})" if code not in (None, 0) else ""),
                None,
                None,
            )
        rss = self._rss(c)
        health = state.get("Health") or {}
        hstatus = health.get("Status")
        if hstatus == "healthy":
            probe = (
                _broker_probe(name, self.settings)
                if cluster.is_broker(self.settings, name)
                else _host_probe(name, self.settings)
            )
            if probe.ok:
                return ServiceStatus(name, engine, probe.version, port, None, "healthy", probe.detail, uptime, rss)
            return ServiceStatus(
                name,
                engine,
                None,
                port,
                None,
                "unhealthy",
                f"container healthy, but not reachable from the host: {probe.detail}",
                uptime,
                rss,
            )
        if hstatus == "starting":
            detail = "starting (healthcheck not passed yet)"
        else:
            log = health.get("Log") or []
            last = (log[-1].get("Output") or "").strip().splitlines() if log else []
            detail = f"healthcheck failing: {last[-1][:160]}" if last else "healthcheck failing"
        return ServiceStatus(name, engine, None, port, None, "unhealthy", detail, uptime, rss)

    @staticmethod
    def _rss(c) -> int | None:
        """Container memory in use (cgroup usage less inactive page cache), from one stats sample."""
        try:
            stats = c.stats(stream=False, one_shot=True)
            mem = stats.get("memory_stats") or {}
            usage = mem.get("usage")
            if usage is None:
                return None
            extra = mem.get("stats") or {}
            cache = extra.get("inactive_file", extra.get("total_inactive_file", 0)) or 0
            return max(0, int(usage) - int(cache))
        except Exception:  # noqa: BLE001 - memory is a nice-to-have in the table
            return None

    # ------------------------------------------------------------------ logs
    def log_path(self, service: str) -> Path | None:
        """A snapshot of the container's log (``docker compose logs``) in the logs directory."""
        self.select([service])
        self.preflight()
        if service not in self.engine.containers():
            return None
        res = self.compose.compose("logs", "--no-color", "--timestamps", "--tail", "5000", service, timeout=120)
        if not res.ok:
            raise PolydemoError(
                f"docker compose logs {service} failed: {_error_line(res.output)}",
                hint=f"try `docker compose -p polydemo logs {service}`",
            )
        path = self.settings.logs_dir / f"{service}.docker.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(res.output)
        return path

    def disk_usage(self, services: Iterable[str]) -> list:
        """Each running container's data volume, as ``df`` inside it sees it (the engine's disk, or the volume's
        own filesystem when it has one). A stopped or paused container cannot be asked: left out."""
        names = self.select(services)
        self.compose.require_cli()
        containers = self.engine.containers()
        out = []
        for name in names:
            c = containers.get(name)
            found = container_disk(name, c) if c is not None and c.status == "running" else None
            if found is not None:
                out.append(found)
        return out

    def log_tail(self, service: str, lines: int = 200) -> str:
        c = self.engine.containers().get(service)
        if c is None:
            return ""
        try:
            return c.logs(tail=lines).decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - docker.errors.APIError: the log is a nice-to-have in `status`
            return ""

    def logs_argv(self, service: str, follow: bool = False, lines: int = 40) -> list[str]:
        """The command that streams a service's log (for a ``logs --follow`` that keeps printing)."""
        self.select([service])
        return self.compose.argv("logs", "--no-color", "--tail", str(lines), *(["--follow"] if follow else []), service)

    # ------------------------------------------------------------------ drills (one container, SDK)
    def stop_service(self, service: str) -> str:
        return self.drills.stop(service)

    def kill_service(self, service: str) -> str:
        return self.drills.kill(service)

    def start_service(self, service: str) -> str:
        return self.drills.start(service)

    def pause_service(self, service: str) -> str:
        return self.drills.pause(service)

    def resume_service(self, service: str) -> str:
        return self.drills.resume(service)
