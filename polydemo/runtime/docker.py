"""The docker runtime: the stack as the Compose project ``polydemo`` (``docker-compose.yml``).

Two seams:

* **Compose**, through the ``docker compose`` CLI as a subprocess, for what concerns the project:
  ``up -d --wait --wait-timeout N``, ``pull``, ``ps --format json``, ``stop``, ``rm``, ``down``, ``logs``.
* **The Docker SDK** (``docker`` on PyPI) for one container at a time: status (state, health, memory)
  and the drills (stop, kill, start, pause, unpause).

Every failure users can meet is one line with a hint (a :class:`PolydemoError`), checked in this order
by :meth:`DockerRuntime.preflight` before anything starts: the ``docker`` command is missing, the engine
does not answer, the Compose v2 plugin is missing or too old. Images are pulled before any container is
created, so a failed pull starts nothing; a failed ``up`` removes what that call started (unless
``keep``), so no half-started stack is left behind.

The connector: Connect runs in a container, so it reaches Postgres as ``postgres:5432`` (the compose
service name and the container port), not as the host's ``127.0.0.1:<port>``. The pipeline must register
the Debezium connector with :meth:`DockerRuntime.connector_overrides` applied.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from polydemo import resources
from polydemo.config import SERVICES, Settings
from polydemo.errors import PolydemoError, PortInUseError, ServiceStartError
from polydemo.runtime.base import CLUSTER_BROKERS, ProgressFn, Runtime, ServiceStatus, UpResult, _ignore
from polydemo.stores import Health

log = logging.getLogger(__name__)

COMPOSE_FILE = resources.path(resources.COMPOSE)
# Kafka cluster mode (`up --kafka-brokers 3`): applied after docker-compose.yml (its header says why an
# override file and not a profile). Brokers 2 and 3 are the services kafka-2 and kafka-3.
CLUSTER_FILE = resources.path(resources.COMPOSE_CLUSTER)
CLUSTER_PROFILE = "cluster"
# Every service name a container of the project can have (the parsers of Compose's output know them all).
KNOWN_SERVICES: tuple[str, ...] = (*SERVICES, *CLUSTER_BROKERS)
# Ports besides Settings.ports that the compose files interpolate (POLYDEMO_<NAME>_PORT).
COMPOSE_EXTRA_PORTS = ("kafka_2", "kafka_3")
# Where each broker container's KRaft quorum state is (KAFKA_LOG_DIRS=/var/lib/kafka/data).
QUORUM_STATE = "/var/lib/kafka/data/__cluster_metadata-0/quorum-state"
PROJECT = "polydemo"
# `up --wait-timeout` arrived in Compose 2.17.0.
MIN_COMPOSE = (2, 17, 0)
# First start: Neo4j and Connect (which scans every Debezium plugin) take the longest.
DEFAULT_WAIT_TIMEOUT = 180.0
PULL_TIMEOUT = 1800.0
DEFAULT_ENGINE_SOCKET = "unix:///var/run/docker.sock"

ENGINE_HINT = "start Docker Desktop (on Linux: `sudo systemctl start docker`), or use --runtime local"
LOCAL_HINT = "or use --runtime local"

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

LineFn = Callable[[str], None]


@dataclass
class ComposeResult:
    returncode: int
    output: str
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0


# ---------------------------------------------------------------- pure helpers (unit-tested)


def compose_services(*paths: Path) -> dict[str, dict]:
    """Service -> its merged keys across compose files, later files winning (as ``docker compose -f a -f b``
    merges the scalar keys ``image`` and ``pull_policy``)."""
    merged: dict[str, dict] = {}
    for path in paths or (COMPOSE_FILE,):
        doc = yaml.safe_load(Path(path).read_text()) or {}
        for name, svc in (doc.get("services") or {}).items():
            merged.setdefault(name, {}).update(svc or {})
    return merged


def compose_images(*paths: Path) -> dict[str, str]:
    """Service -> image reference, as docker-compose.yml (and any override file after it) pins them."""
    return {name: svc["image"] for name, svc in compose_services(*paths).items() if "image" in svc}


def parse_ps_json(text: str) -> list[dict]:
    """``docker compose ps --format json``: a JSON array before Compose 2.21, one object per line since."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        rows = json.loads(text)
        return [r for r in rows if isinstance(r, dict)]
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def compose_version(text: str) -> tuple[int, int, int] | None:
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def _container_name_re(project: str) -> re.Pattern[str]:
    """``<project>-<service>-<n>`` for every known service; ``polydemo-kafka-2-1`` is kafka-2, not kafka
    (the lookahead refuses a replica number that is followed by another one)."""
    names = "|".join(re.escape(n) for n in sorted(KNOWN_SERVICES, key=len, reverse=True))
    return re.compile(rf"\b{re.escape(project)}[-_]({names})[-_]\d+\b(?![-_]\d)")


def service_of_container(name: str, project: str = PROJECT) -> str | None:
    """``polydemo-kafka-1`` (or ``polydemo_kafka_1``) -> ``kafka``; ``polydemo-kafka-2-1`` -> ``kafka-2``."""
    m = _container_name_re(project).search(name)
    return m.group(1) if m else None


def _services_in(text: str, project: str = PROJECT) -> list[str]:
    found = []
    for m in _container_name_re(project).finditer(text):
        name = m.group(1)
        if name not in found:
            found.append(name)
    return found


def _failed_services(text: str, project: str = PROJECT) -> list[str]:
    """Services named on the lines of Compose's output that report a failure (not the ones that went well)."""
    bad = "\n".join(
        ln for ln in text.splitlines() if re.search(r"error|unhealthy|exited|failed|timeout|timed out", ln, re.I)
    )
    return _services_in(bad, project)


def _last_lines(text: str, n: int = 12) -> str:
    lines = [ln.rstrip() for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-n:])


def _error_line(text: str) -> str:
    """The most telling line of Compose's output: the last one that says error, else the last one."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for line in reversed(lines):
        if re.search(r"\berror\b|failed|denied|unhealthy|not found", line, re.I):
            return line[:240]
    return lines[-1][:240] if lines else "no output"


PULL_NOT_FOUND = (
    "manifest unknown",
    "pull access denied",
    "repository does not exist",
    "not found: manifest",
    ": not found",
)
PULL_PLATFORM = ("no matching manifest",)
PULL_RATE = ("toomanyrequests", "rate limit")
PULL_AUTH = ("unauthorized", "authentication required")
NETWORK = (
    "no such host",
    "i/o timeout",
    "tls handshake timeout",
    "dial tcp",
    "proxyconnect",
    "connection refused",
    "network is unreachable",
    "temporary failure in name resolution",
    "failed to do request",
    "context deadline exceeded",
    "connection reset",
)
# Compose's words when the engine went away under it.
ENGINE_GONE = (
    "failed to connect to the docker api",
    "cannot connect to the docker daemon",
    "is the docker daemon running",
)
PORT_TAKEN = ("port is already allocated", "address already in use", "bind for", "ports are not available")


def pull_error(output: str, images: dict[str, str]) -> PolydemoError:
    """One clear error for a failed ``docker compose pull`` (nothing was started)."""
    low = output.lower()
    service = next((s for s, ref in images.items() if ref.lower() in low), None)
    if service is None:
        service = next(
            (s for s in images if re.search(rf"^\s*{re.escape(s)}\b.*(error|fail)", output, re.I | re.M)), None
        )
    image = images.get(service) if service else ", ".join(images.values())
    what = f"could not pull {image}"
    offline = "pull the images once while online (`docker compose -p polydemo pull`), " + LOCAL_HINT
    if any(k in low for k in PULL_RATE):
        return PolydemoError(
            f"{what}: the registry's pull rate limit was reached",
            hint="`docker login` (a free Docker Hub account has a higher limit) and retry, or wait; " + LOCAL_HINT,
        )
    if any(k in low for k in PULL_PLATFORM):
        return PolydemoError(
            f"{what}: the image has no build for this machine's platform",
            hint="pick a multi-arch tag in docker-compose.yml, " + LOCAL_HINT,
        )
    if any(k in low for k in NETWORK):
        return PolydemoError(
            f"{what}: the registry cannot be reached",
            hint="check the internet connection (and the proxy settings of Docker), or " + offline,
        )
    if any(k in low for k in PULL_AUTH):
        return PolydemoError(
            f"{what}: the registry refused the credentials",
            hint="`docker logout` then retry (the images are public), " + LOCAL_HINT,
        )
    if any(k in low for k in PULL_NOT_FOUND):
        return PolydemoError(
            f"{what}: the registry has no such image or tag",
            hint="check the pinned tag in docker-compose.yml, " + LOCAL_HINT,
        )
    if "no space left on device" in low:
        return PolydemoError(
            f"{what}: Docker ran out of disk space",
            hint="free space with `docker system prune` (or give Docker Desktop a bigger disk), " + LOCAL_HINT,
        )
    return PolydemoError(f"{what}: {_error_line(output)}", hint=offline)


def up_error(
    output: str,
    ports: dict[str, int],
    images: dict[str, str],
    timed_out: bool = False,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
    project: str = PROJECT,
) -> PolydemoError:
    """One clear error for a failed ``docker compose up --wait``."""
    low = output.lower()
    if any(k in low for k in PORT_TAKEN):
        m = re.search(r"(?:0\.0\.0\.0|127\.0\.0\.1|\[::\]|::):(\d+)", output)
        port = int(m.group(1)) if m else None
        service = next((s for s, p in ports.items() if p == port), None)
        if service is None:
            found = _services_in(output, project)
            service = found[0] if found else None
            port = ports.get(service) if service else port
        who = service or "a service"
        env = f"POLYDEMO_{service.upper().replace('-', '_')}_PORT" if service else "POLYDEMO_<SERVICE>_PORT"
        return PortInUseError(
            f"port {port} for {who} is already in use" if port else f"a port {who} needs is already in use",
            hint="stop what holds it (another polydemo on the local runtime? `polydemo --runtime local down`), "
            f"or choose another port with {env}=<port> (or POLYDEMO_PORT_OFFSET)",
        )
    if any(k in low for k in (*PULL_NOT_FOUND, *PULL_RATE, *PULL_PLATFORM, "error pulling", "pull access")):
        return pull_error(output, images)
    if "no space left on device" in low:
        return PolydemoError(
            "Docker ran out of disk space",
            hint="free space with `docker system prune` (or give Docker Desktop a bigger disk), " + LOCAL_HINT,
        )
    found = _failed_services(output, project) or _services_in(output, project)
    if timed_out or "timeout" in low or "unhealthy" in low or "dependency failed" in low or "exited" in low:
        svc = found[-1] if found else None
        if svc:
            return ServiceStartError(
                f"{svc} did not become healthy"
                + (f" within {wait_timeout:.0f}s" if timed_out or "timeout" in low else ""),
                hint=f"see `polydemo --runtime docker logs {svc}`",
            )
        return ServiceStartError(
            f"the stack did not become healthy within {wait_timeout:.0f}s",
            hint="see `docker compose -p polydemo ps` and `docker compose -p polydemo logs`",
        )
    return ServiceStartError(
        f"docker compose up failed: {_error_line(output)}",
        hint="see `docker compose -p polydemo ps` and `docker compose -p polydemo logs`",
    )


def engine_lost_error(during: str, services: list[str]) -> PolydemoError:
    """The engine stopped answering in the middle of a command: nothing more can be cleaned up from here."""
    return PolydemoError(
        f"the Docker engine stopped answering during `{during}`",
        hint="start it again (Docker Desktop, or `sudo systemctl start docker`); containers stop "
        "with the engine and have no restart policy, so then `polydemo --runtime docker down` "
        f"removes what was started ({', '.join(services)}), or use --runtime local",
    )


def missing_image_hint(overrides: list[Path]) -> str:
    if overrides:
        return (
            "build the stand-in images first (`bash scripts/docker-harness.sh prepare`), or unset "
            "POLYDEMO_COMPOSE_OVERRIDE to use the official images"
        )
    return "build or pull it (`docker compose -p polydemo pull`), " + LOCAL_HINT


def _started_seconds(started_at: str | None) -> float | None:
    if not started_at or started_at.startswith("0001-"):
        return None
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?", started_at)
    if not m:
        return None
    frac = (m.group(2) or "")[:7]
    tz = m.group(3) or "Z"
    stamp = f"{m.group(1)}{frac}{'+00:00' if tz == 'Z' else tz}"
    try:
        return max(0.0, time.time() - datetime.fromisoformat(stamp).astimezone(UTC).timestamp())
    except ValueError:
        return None


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


def kafka_brokers_of(env: list[str]) -> int | None:
    """How many voters a kafka container's quorum has, from its ``Config.Env`` (None when it does not say)."""
    for item in env:
        key, _, value = item.partition("=")
        if key == "KAFKA_CONTROLLER_QUORUM_VOTERS":
            return len([v for v in value.split(",") if v.strip()])
    return None


# ---------------------------------------------------------------- the runtime


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
        self.compose_file = Path(compose_file)
        # POLYDEMO_COMPOSE_OVERRIDE, through Settings (the docker harness names its stand-in images there).
        self.overrides = [Path(p) for p in (overrides if overrides is not None else settings.compose_overrides)]
        self.project = project
        self._client = None
        self._compose_ok = False

    # ------------------------------------------------------------------ services
    def depends_on(self, service: str) -> tuple[str, ...]:
        """What Compose's depends_on says: Connect needs Kafka (every broker in cluster mode)."""
        if service == "connect":
            return tuple(n for n in self.all_services() if n.startswith("kafka"))
        return DEPENDS_ON.get(service, ())

    # ------------------------------------------------------------------ for the pipeline
    @staticmethod
    def connector_overrides() -> dict[str, str]:
        """Keys to replace in the Debezium connector config: Connect reaches Postgres as postgres:5432."""
        return dict(CONNECTOR_OVERRIDES)

    def compose_env(self) -> dict[str, str]:
        """The variables docker-compose.yml interpolates, from these Settings (ports, passwords)."""
        env = {f"POLYDEMO_{name.upper()}_PORT": str(port) for name, port in self.settings.ports.items()}
        for name in COMPOSE_EXTRA_PORTS:  # brokers 2 and 3 (docker-compose.cluster.yml)
            env[f"POLYDEMO_{name.upper()}_PORT"] = str(self.settings.extra_ports[name])
        env["POLYDEMO_PG_PASSWORD"] = self.settings.pg_password
        env["POLYDEMO_NEO4J_PASSWORD"] = self.settings.neo4j_password
        return env

    def compose_argv(self, *args: str) -> list[str]:
        files = [a for f in self.compose_files for a in ("-f", str(f))]
        # The profile makes an override's kafka-2/kafka-3 entries (tests/docker/compose.standins.yml) count
        # in cluster mode only; docker-compose.cluster.yml itself needs none.
        profile = ["--profile", CLUSTER_PROFILE] if self.settings.cluster else []
        return ["docker", "compose", "--ansi", "never", *files, *profile, "-p", self.project, *args]

    def data_location(self) -> str:
        return f"the Docker volumes of project {self.project} (`{self.delete_volumes_command()}` deletes them)"

    def delete_volumes_command(self) -> str:
        """The command that deletes this stack's volumes (with the cluster file in cluster mode: without it
        ``down -v`` leaves kafka-2's and kafka-3's)."""
        import shlex

        files = [a for f in self.compose_files for a in ("-f", str(f))]
        profile = ["--profile", CLUSTER_PROFILE] if self.settings.cluster else []
        return shlex.join(["docker", "compose", *files, *profile, "-p", self.project, "down", "-v"])

    @property
    def cluster_file(self) -> Path:
        return self.compose_file.parent / CLUSTER_FILE.name

    @property
    def compose_files(self) -> list[Path]:
        """docker-compose.yml, then docker-compose.cluster.yml in cluster mode, then the override files."""
        cluster = [self.cluster_file] if self.settings.cluster else []
        return [self.compose_file, *cluster, *self.overrides]

    # ------------------------------------------------------------------ preflight
    def preflight(self) -> None:
        """In order: the docker command, the engine, Compose v2 (>= 2.17), the compose file."""
        self._require_cli()
        self._engine()
        self._require_compose()
        for main in [self.compose_file, *([self.cluster_file] if self.settings.cluster else [])]:
            if not main.is_file():
                raise PolydemoError(
                    f"{main} is missing",
                    hint="run polydemo from a full checkout of the project, " + LOCAL_HINT,
                )
        for extra in self.overrides:
            if not extra.is_file():
                raise PolydemoError(
                    f"POLYDEMO_COMPOSE_OVERRIDE names {extra}, which does not exist",
                    hint="unset POLYDEMO_COMPOSE_OVERRIDE to use the official images, "
                    "or give the path of a compose file",
                )

    def _require_cli(self) -> None:
        if shutil.which("docker") is None:
            raise PolydemoError(
                "Docker is not installed (no `docker` command on the PATH)",
                hint="install Docker Desktop or Docker Engine (https://docs.docker.com/get-docker/), "
                "or use --runtime local",
            )

    def _engine_url(self) -> str | None:
        """The engine address of the current docker context, when DOCKER_HOST does not say.

        The SDK's from_env() reads DOCKER_HOST only, but Colima, OrbStack, Rancher Desktop and Docker
        Desktop's own context put the socket elsewhere; the CLI knows where, without an engine.
        """
        if os.environ.get("DOCKER_HOST"):
            return None
        res = self._run(["docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"], timeout=10)
        host = res.output.strip().splitlines()[-1].strip() if res.ok and res.output.strip() else ""
        if host.startswith(("unix://", "npipe://")) and host != DEFAULT_ENGINE_SOCKET:
            return host
        return None

    def _engine(self):
        """A Docker SDK client that has answered a ping, or the one-line 'engine not running' error."""
        if self._client is not None:
            return self._client
        url = self._engine_url()
        where = os.environ.get("DOCKER_HOST") or url or DEFAULT_ENGINE_SOCKET
        try:
            import docker

            client = docker.DockerClient(base_url=url, timeout=10) if url else docker.from_env(timeout=10)
            client.ping()
        except Exception as exc:  # noqa: BLE001 - every failure here means "no usable engine"
            text = f"{type(exc).__name__}: {exc}"
            if "permission denied" in text.lower():
                raise PolydemoError(
                    f"cannot talk to the Docker engine at {where}: permission denied",
                    hint="add your user to the `docker` group and log in again, or use --runtime local",
                ) from None
            raise PolydemoError(
                f"the Docker engine is not running (nothing answers at {where})", hint=ENGINE_HINT
            ) from None
        self._client = client
        return client

    def _require_compose(self) -> None:
        if self._compose_ok:
            return
        res = self._run(["docker", "compose", "version", "--short"], timeout=30)
        hint = (
            "install the Docker Compose v2 plugin (Docker Desktop includes it; on Linux the "
            "docker-compose-plugin package from Docker's repository), or use --runtime local"
        )
        if not res.ok:
            raise PolydemoError("Docker Compose v2 is not installed (`docker compose version` failed)", hint=hint)
        version = compose_version(res.output)
        if version is not None and version < MIN_COMPOSE:
            raise PolydemoError(
                f"Docker Compose {'.'.join(map(str, version))} is too old "
                f"(polydemo needs {'.'.join(map(str, MIN_COMPOSE))} or newer for `up --wait-timeout`)",
                hint="update Docker Desktop or the docker-compose-plugin package, or use --runtime local",
            )
        self._compose_ok = True

    # ------------------------------------------------------------------ subprocess seam
    def _run(self, argv: list[str], timeout: float, on_line: LineFn | None = None) -> ComposeResult:
        """Run a command (stdout+stderr merged), feeding each line to ``on_line``; never raises for failures."""
        env = {**os.environ, **self.compose_env()}
        try:
            proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
                env=env,
                cwd=str(self.compose_file.parent),
                start_new_session=True,
            )
        except FileNotFoundError:
            return ComposeResult(127, f"{argv[0]}: command not found")
        except OSError as exc:
            return ComposeResult(126, f"{argv[0]}: {exc}")
        lines: list[str] = []

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if on_line is not None:
                    try:
                        on_line(line.rstrip("\n"))
                    except Exception as exc:  # noqa: BLE001 - progress display must not break the run
                        log.debug("progress display failed on a compose line: %s", exc)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timed_out = False
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            rc, timed_out = -9, True
        except BaseException:
            # Ctrl-C: the command runs in its own session, so it is stopped here.
            _kill_group(proc)
            raise
        reader.join(5)
        out = "".join(lines)
        if timed_out:
            out += f"\npolydemo: `{' '.join(argv[:3])} ...` timed out after {timeout:.0f}s\n"
        return ComposeResult(rc, out, timed_out)

    def _compose(self, *args: str, timeout: float = 120.0, on_line: LineFn | None = None) -> ComposeResult:
        return self._run(self.compose_argv(*args), timeout=timeout, on_line=on_line)

    # ------------------------------------------------------------------ compose views
    def ps(self) -> dict[str, dict]:
        """Service -> its row of ``docker compose ps --all --format json`` (State, Health, ...)."""
        res = self._compose("ps", "--all", "--format", "json", timeout=60)
        if not res.ok:
            raise PolydemoError(
                f"docker compose ps failed: {_error_line(res.output)}", hint="see `docker compose -p polydemo ps`"
            )
        rows: dict[str, dict] = {}
        for row in parse_ps_json(res.output):
            svc = row.get("Service") or service_of_container(str(row.get("Name", "")), self.project)
            if svc and svc not in rows:
                rows[svc] = row
        return rows

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

    def _wait_timeout(self) -> float:
        return max(self.settings.start_timeout, DEFAULT_WAIT_TIMEOUT)

    # ------------------------------------------------------------------ up
    def up(self, services: Iterable[str] | None = None, keep: bool = False, progress: ProgressFn = _ignore) -> UpResult:
        t0 = time.monotonic()
        wanted = self._with_deps(self.select(services))
        for name in wanted:
            progress(name, "checking", "docker")
        self.preflight()
        before = self.ps()
        self._refuse_other_mode()
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
            wait = self._wait_timeout()
            try:
                res = self._compose(
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
            if not res.ok and not self._engine_answers(res.output):
                raise engine_lost_error("up", to_start)
            if not res.ok:
                err = up_error(
                    res.output,
                    {n: self.settings.port(n) for n in self.all_services()},
                    compose_images(*self.compose_files),
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
                    err.details = err.details or self._logs_tail(bad, 15) or None
                if not keep:
                    cleanup = self._cleanup(to_start, nothing_alive)
                    if cleanup and not self._engine_answers():
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

    def _is_broker(self, name: str) -> bool:
        return self.settings.cluster and (name == "kafka" or name in CLUSTER_BROKERS)

    def _refuse_other_mode(self) -> None:
        """The compose project is one per engine: a cluster left running by another home (or one broker
        while this home wants three) cannot be reused, and Compose would not notice (kafka is healthy).
        Asks the engine, not ``compose ps``, which does not list a service its files do not enable."""
        try:
            containers = self._containers()
        except Exception:  # noqa: BLE001 - the checks that follow (compose up) say what is wrong
            return
        alive = {n for n, c in containers.items() if c.status in ("running", "paused", "restarting")}
        brokers = [n for n in CLUSTER_BROKERS if n in alive]
        if brokers and not self.settings.cluster:
            raise PolydemoError(
                f"a Kafka cluster ({', '.join(['kafka', *brokers])}) of project {self.project} is running, "
                "and this home runs one broker",
                hint="stop it first: `POLYDEMO_KAFKA_BROKERS=3 polydemo --runtime docker down`, "
                "or use `--kafka-brokers 3`",
            )
        if self.settings.cluster and "kafka" in alive and not brokers:
            env = ((containers["kafka"].attrs or {}).get("Config") or {}).get("Env") or []
            if kafka_brokers_of(list(env)) == 1:
                raise PolydemoError(
                    f"the kafka container of project {self.project} runs one broker, not a cluster of 3",
                    hint="stop it first (`POLYDEMO_KAFKA_BROKERS=1 polydemo --runtime docker down`), then "
                    "`polydemo --runtime docker up --kafka-brokers 3`",
                )

    def _pull_missing(self, services: list[str], progress: ProgressFn) -> None:
        declared = compose_services(*self.compose_files)
        images = compose_images(*self.compose_files)
        client = self._engine()
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
            res = self._compose("build", *to_build, timeout=PULL_TIMEOUT)
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
                hint=missing_image_hint(self.overrides),
            )
            progress(name, "failed", err.message)
            raise err
        for name in missing:
            progress(name, "starting", f"pulling {images[name]}")
        res = self._compose("pull", *missing, timeout=PULL_TIMEOUT, on_line=_pull_progress(progress, missing))
        if not res.ok:
            err = pull_error(res.output, {n: images[n] for n in missing})
            for name in missing:
                progress(name, "failed", err.message)
            raise err

    def _engine_answers(self, output: str = "") -> bool:
        """False when the engine is gone: Compose said it could not reach it, or a NEW client's ping fails.
        (The cached client's keep-alive connection is still served while a stopping dockerd shuts down.)"""
        if any(k in output.lower() for k in ENGINE_GONE):
            return False
        try:
            client = self._fresh_client()
            try:
                return bool(client.ping())
            finally:
                getattr(client, "close", lambda: None)()
        except Exception:  # noqa: BLE001 - any failure to ping means the engine is gone: that is the answer
            return False

    def _fresh_client(self):
        """A new SDK client (its own connection), for the is-the-engine-still-there check."""
        import docker

        url = self._engine_url()
        return docker.DockerClient(base_url=url, timeout=5) if url else docker.from_env(timeout=5)

    def _cleanup(self, started: list[str], nothing_alive: bool) -> str:
        """Remove what an aborted ``up`` started. Returns text for the hint when even that failed."""
        t = str(int(self.settings.stop_timeout))
        if nothing_alive:
            res = self._compose("down", "--timeout", t, timeout=self.settings.stop_timeout * 4 + 60)
        else:
            res = self._compose("rm", "--stop", "--force", *started, timeout=self.settings.stop_timeout * 4 + 60)
        if res.ok:
            return ""
        return "; cleaning up failed too: run `docker compose -p polydemo down`"

    def _unpause_quietly(self, service: str) -> None:
        try:
            c = self._containers().get(service)
            if c is not None and c.status == "paused":
                c.unpause()
        except Exception as exc:  # noqa: BLE001 - best effort: a stop that follows handles what remains
            log.debug("could not unpause %s: %s", service, exc)

    # ------------------------------------------------------------------ down
    def down(self, services: Iterable[str] | None = None, progress: ProgressFn = _ignore) -> dict[str, str]:
        wanted = self.select(services)
        self.preflight()
        before = self.ps()
        alive = [n for n in wanted if self._row_alive(before.get(n))]
        for n in alive:
            if str(before[n].get("State", "")).lower() == "paused":
                self._unpause_quietly(n)
            progress(n, "stopping", "")
        t = str(int(self.settings.stop_timeout))
        if set(wanted) == set(self.all_services()):
            # The whole project: containers and network go, the named volumes (the data) stay.
            res = self._compose("down", "--timeout", t, timeout=self.settings.stop_timeout * 4 + 60)
        elif alive:
            # Dependants first (Connect before Kafka), like the local runtime.
            order = sorted(alive, key=lambda n: 0 if self.depends_on(n) else 1)
            res = self._compose("stop", "--timeout", t, *order, timeout=self.settings.stop_timeout * 4 + 60)
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
    def _containers(self) -> dict:
        """Service -> container of this compose project (stopped ones too)."""
        client = self._engine()
        found: dict = {}
        for c in client.containers.list(all=True, filters={"label": f"com.docker.compose.project={self.project}"}):
            svc = (c.labels or {}).get("com.docker.compose.service")
            if svc in KNOWN_SERVICES and svc not in found:
                found[svc] = c
        return found

    def status(self, services: Iterable[str] | None = None) -> list[ServiceStatus]:
        names = self.select(services)
        self._require_cli()
        self._engine()
        containers = self._containers()
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
            probe = _broker_probe(name, self.settings) if self._is_broker(name) else _host_probe(name, self.settings)
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

    def controller_leader(self) -> tuple[int, int] | None:
        """Cluster mode: (leader id, epoch) of the KRaft quorum, from the ``quorum-state`` file each running
        broker container keeps (highest epoch wins, as the local runtime reads them); None if none says."""
        best: tuple[int, int] | None = None
        try:
            containers = self._containers()
        except Exception:  # noqa: BLE001 - the table says "unknown"
            return None
        for name in self.all_services():
            c = containers.get(name)
            if not name.startswith("kafka") or c is None or c.status != "running":
                continue
            try:
                code, out = c.exec_run(["cat", QUORUM_STATE], demux=False)
                doc = json.loads(out) if code == 0 else {}
            except Exception:  # noqa: BLE001 - one broker that cannot say is skipped
                continue
            leader, epoch = doc.get("leaderId", -1), doc.get("leaderEpoch", -1)
            if isinstance(leader, int) and leader >= 0 and (best is None or int(epoch) > best[1]):
                best = (leader, int(epoch))
        return best

    # ------------------------------------------------------------------ logs
    def log_path(self, service: str) -> Path | None:
        """A snapshot of the container's log (``docker compose logs``) in the logs directory."""
        self.select([service])
        self.preflight()
        if service not in self._containers():
            return None
        res = self._compose("logs", "--no-color", "--timestamps", "--tail", "5000", service, timeout=120)
        if not res.ok:
            raise PolydemoError(
                f"docker compose logs {service} failed: {_error_line(res.output)}",
                hint=f"try `docker compose -p polydemo logs {service}`",
            )
        path = self.settings.logs_dir / f"{service}.docker.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(res.output)
        return path

    def logs_argv(self, service: str, follow: bool = False, lines: int = 40) -> list[str]:
        """The command that streams a service's log (for a ``logs --follow`` that keeps printing)."""
        self.select([service])
        return self.compose_argv("logs", "--no-color", "--tail", str(lines), *(["--follow"] if follow else []), service)

    def _logs_tail(self, service: str, lines: int) -> str:
        try:
            res = self._compose("logs", "--no-color", "--no-log-prefix", "--tail", str(lines), service, timeout=30)
            return _last_lines(res.output, lines) if res.ok else ""
        except Exception:  # noqa: BLE001
            return ""

    # ------------------------------------------------------------------ drills (one container, SDK)
    def _container(self, service: str):
        self.select([service])
        self._require_cli()
        return self._containers().get(service)

    def _sdk(self, what: str, service: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - docker.errors.APIError and friends
            raise PolydemoError(
                f"could not {what} {service}: {str(exc).splitlines()[0][:200]}",
                hint=f"see `docker compose -p {self.project} ps`",
            ) from None

    def stop_service(self, service: str) -> str:
        c = self._container(service)
        if c is None or c.status not in ("running", "paused", "restarting"):
            return "not running"
        if c.status == "paused":
            self._sdk("resume", service, c.unpause)
        self._sdk("stop", service, lambda: c.stop(timeout=int(self.settings.stop_timeout)))
        return "stopped"

    def kill_service(self, service: str) -> str:
        c = self._container(service)
        if c is None or c.status not in ("running", "paused", "restarting"):
            return "not running"
        if c.status == "paused":
            self._sdk("resume", service, c.unpause)
        self._sdk("kill", service, lambda: c.kill(signal="SIGKILL"))
        return "killed"

    def start_service(self, service: str) -> str:
        c = self._container(service)
        if c is None:
            result = self.up([service])
            return "already running" if service in result.already_running else "started"
        if c.status in ("running", "paused", "restarting"):
            return "already running"
        for dep in self.depends_on(service):
            self.start_service(dep)
        self._sdk("start", service, c.start)
        self._wait_healthy(service, c)
        return "started"

    def _wait_healthy(self, service: str, c) -> None:
        timeout = self._wait_timeout()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            c.reload()
            state = c.attrs.get("State") or {}
            if state.get("Status") in ("exited", "dead"):
                raise ServiceStartError(
                    f"{service} exited during start-up (exit code {state.get('ExitCode')})",
                    hint=f"see `polydemo --runtime docker logs {service}`",
                    details=self._logs_tail(service, 15) or None,
                )
            health = (state.get("Health") or {}).get("Status")
            if health in (None, "healthy"):
                return
            time.sleep(0.5)
        raise ServiceStartError(
            f"{service} was not healthy after {timeout:.0f}s",
            hint=f"see `polydemo --runtime docker logs {service}`",
            details=self._logs_tail(service, 15) or None,
        )

    def pause_service(self, service: str) -> str:
        c = self._container(service)
        if c is None or c.status not in ("running", "paused", "restarting"):
            return "not running"
        if c.status != "paused":
            self._sdk("pause", service, c.pause)
        return "paused"

    def resume_service(self, service: str) -> str:
        c = self._container(service)
        if c is None or c.status != "paused":
            return "not paused"
        self._sdk("resume", service, c.unpause)
        return "resumed"


# ---------------------------------------------------------------- progress from Compose's plain output

_CONTAINER_EVENT = re.compile(
    r"Container\s+(\S+)\s+(Creating|Created|Recreate|Recreated|Starting|Started|Waiting|"
    r"Healthy|Running|Stopping|Stopped|Error)\b"
)


def _compose_progress(progress: ProgressFn, project: str) -> LineFn:
    states = {
        "Creating": "creating container",
        "Created": "container created",
        "Recreate": "recreating container",
        "Recreated": "container recreated",
        "Starting": "starting container",
        "Started": "container started",
        "Waiting": "waiting for the healthcheck",
        "Running": "container running",
    }

    def on_line(line: str) -> None:
        m = _CONTAINER_EVENT.search(line)
        if not m:
            return
        svc = service_of_container(m.group(1), project)
        if svc is None or m.group(2) in ("Error", "Healthy", "Stopping", "Stopped"):
            return  # failures and the final states are reported by up() itself
        progress(svc, "waiting" if m.group(2) == "Waiting" else "starting", states[m.group(2)])

    return on_line


def _pull_progress(progress: ProgressFn, services: list[str]) -> LineFn:
    def on_line(line: str) -> None:
        m = re.match(r"\s*(\S+)\s+(Pulling|Pulled)\b", line)
        if m and m.group(1) in services:
            progress(m.group(1), "starting", "image pulled" if m.group(2) == "Pulled" else "pulling image")

    return on_line


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass
    with contextlib.suppress(subprocess.TimeoutExpired):  # pragma: no cover - SIGKILL is not refused
        proc.wait(10)
