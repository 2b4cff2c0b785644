"""The Compose project, through the ``docker compose`` CLI as a subprocess: its files (docker-compose.yml,
the cluster file, any override), the variables they interpolate, the command lines, and the one place a
``docker`` command is run (:meth:`ComposeProject.run`, the seam the unit tests replace)."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
import threading
from pathlib import Path

from polydemo.config import Settings
from polydemo.errors import PolydemoError
from polydemo.runtime.docker.failures import LOCAL_HINT
from polydemo.runtime.docker.output import (
    CLUSTER_FILE,
    COMPOSE_FILE,
    PROJECT,
    ComposeResult,
    LineFn,
    _error_line,
    _last_lines,
    compose_version,
    parse_ps_json,
    service_of_container,
)

log = logging.getLogger(__name__)

CLUSTER_PROFILE = "cluster"
# Ports besides Settings.ports that the compose files interpolate (POLYDEMO_<NAME>_PORT).
COMPOSE_EXTRA_PORTS = ("kafka_2", "kafka_3")
# `up --wait-timeout` arrived in Compose 2.17.0.
MIN_COMPOSE = (2, 17, 0)
PULL_TIMEOUT = 1800.0


class ComposeProject:
    """One Compose project (``-p polydemo``) of these Settings: its files, environment and commands."""

    def __init__(
        self,
        settings: Settings,
        compose_file: Path = COMPOSE_FILE,
        name: str = PROJECT,
        overrides: list[Path] | None = None,
    ):
        self.settings = settings
        self.compose_file = Path(compose_file)
        self.name = name
        # POLYDEMO_COMPOSE_OVERRIDE, through Settings (the docker harness names its stand-in images there).
        self.overrides = [Path(p) for p in (overrides if overrides is not None else settings.compose_overrides)]
        self._version_ok = False

    # ------------------------------------------------------------------ files and command lines
    @property
    def cluster_file(self) -> Path:
        return self.compose_file.parent / CLUSTER_FILE.name

    @property
    def files(self) -> list[Path]:
        """docker-compose.yml, then docker-compose.cluster.yml in cluster mode, then the override files."""
        cluster = [self.cluster_file] if self.settings.cluster else []
        return [self.compose_file, *cluster, *self.overrides]

    def env(self) -> dict[str, str]:
        """The variables docker-compose.yml interpolates, from these Settings (ports, passwords)."""
        env = {f"POLYDEMO_{name.upper()}_PORT": str(port) for name, port in self.settings.ports.items()}
        for name in COMPOSE_EXTRA_PORTS:  # brokers 2 and 3 (docker-compose.cluster.yml)
            env[f"POLYDEMO_{name.upper()}_PORT"] = str(self.settings.extra_ports[name])
        env["POLYDEMO_PG_PASSWORD"] = self.settings.pg_password
        env["POLYDEMO_NEO4J_PASSWORD"] = self.settings.neo4j_password
        return env

    def _files_and_profile(self) -> list[str]:
        files = [a for f in self.files for a in ("-f", str(f))]
        # The profile makes an override's kafka-2/kafka-3 entries (tests/docker/compose.standins.yml) count
        # in cluster mode only; docker-compose.cluster.yml itself needs none.
        profile = ["--profile", CLUSTER_PROFILE] if self.settings.cluster else []
        return [*files, *profile]

    def argv(self, *args: str) -> list[str]:
        return ["docker", "compose", "--ansi", "never", *self._files_and_profile(), "-p", self.name, *args]

    def delete_volumes_command(self) -> str:
        """The command that deletes this stack's volumes (with the cluster file in cluster mode: without it
        ``down -v`` leaves kafka-2's and kafka-3's)."""
        return shlex.join(["docker", "compose", *self._files_and_profile(), "-p", self.name, "down", "-v"])

    # ------------------------------------------------------------------ checks
    def require_cli(self) -> None:
        if shutil.which("docker") is None:
            raise PolydemoError(
                "Docker is not installed (no `docker` command on the PATH)",
                hint="install Docker Desktop or Docker Engine (https://docs.docker.com/get-docker/), "
                "or use --runtime local",
            )

    def require_version(self) -> None:
        """Compose v2, new enough for ``up --wait-timeout`` (asked once)."""
        if self._version_ok:
            return
        res = self.run(["docker", "compose", "version", "--short"], timeout=30)
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
        self._version_ok = True

    def require_files(self) -> None:
        """The compose file (and the cluster file in cluster mode) and every override file exist."""
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

    # ------------------------------------------------------------------ the subprocess seam
    def run(self, argv: list[str], timeout: float, on_line: LineFn | None = None) -> ComposeResult:
        """Run a command (stdout+stderr merged), feeding each line to ``on_line``; never raises for failures."""
        env = {**os.environ, **self.env()}
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

    def compose(self, *args: str, timeout: float = 120.0, on_line: LineFn | None = None) -> ComposeResult:
        """``docker compose <files> -p <project> <args>``."""
        return self.run(self.argv(*args), timeout=timeout, on_line=on_line)

    # ------------------------------------------------------------------ views
    def ps(self) -> dict[str, dict]:
        """Service -> its row of ``docker compose ps --all --format json`` (State, Health, ...)."""
        res = self.compose("ps", "--all", "--format", "json", timeout=60)
        if not res.ok:
            raise PolydemoError(
                f"docker compose ps failed: {_error_line(res.output)}", hint="see `docker compose -p polydemo ps`"
            )
        rows: dict[str, dict] = {}
        for row in parse_ps_json(res.output):
            svc = row.get("Service") or service_of_container(str(row.get("Name", "")), self.name)
            if svc and svc not in rows:
                rows[svc] = row
        return rows

    def logs_tail(self, service: str, lines: int) -> str:
        """The last lines of a service's log ("" when Compose cannot say): the details of a failed start."""
        try:
            res = self.compose("logs", "--no-color", "--no-log-prefix", "--tail", str(lines), service, timeout=30)
            return _last_lines(res.output, lines) if res.ok else ""
        except Exception as exc:  # noqa: BLE001 - only the details of an error already being reported
            log.debug("compose logs %s: %s", service, exc)
            return ""


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass  # already gone (or never ours to kill): the wait below reaps what is left
    with contextlib.suppress(subprocess.TimeoutExpired):  # pragma: no cover - SIGKILL is not refused
        proc.wait(10)
