"""The Runtime interface: one shape for the local (processes) and docker (compose) runtimes.

Scenarios, the dashboard and the CLI speak only to this interface, so they run unchanged on both.
Runtimes report progress through a callback, never by printing: the CLI decides how to show it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from polydemo.config import SERVICES, Settings
from polydemo.diskspace import DiskUsage

# The brokers cluster mode adds (``up --kafka-brokers 3``): services of their own, after ``kafka``.
CLUSTER_BROKERS: tuple[str, ...] = ("kafka-2", "kafka-3")

# (service, state, detail). States: "checking", "starting", "waiting", "healthy",
# "running" (already up), "failed", "stopping", "stopped", "killed", "not running".
ProgressFn = Callable[[str, str, str], None]


def _ignore(service: str, state: str, detail: str) -> None:
    pass


@dataclass
class ServiceStatus:
    service: str
    engine: str
    version: str | None
    port: int
    pid: int | None
    state: str  # "healthy", "unhealthy", "stopped", "paused"
    detail: str
    uptime_s: float | None
    rss_bytes: int | None

    @property
    def healthy(self) -> bool:
        return self.state == "healthy"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class UpResult:
    started: list[str]
    already_running: list[str]
    statuses: list[ServiceStatus]
    seconds: float


class Runtime(ABC):
    """Start, stop and inspect the stack's servers."""

    name: str

    def __init__(self, settings: Settings):
        self.settings = settings

    # ---- which services: one signature for both runtimes (they differ only in all_services)
    def all_services(self) -> list[str]:
        """The services of this stack: the seven, plus ``kafka-2`` and ``kafka-3`` (after ``kafka``) in
        cluster mode."""
        out: list[str] = []
        for name in SERVICES:
            out.append(name)
            if name == "kafka" and self.settings.cluster:
                out += [self.settings.broker_service(n) for n in self.settings.broker_ids()[1:]]
        return out

    def select(self, services: Iterable[str] | None = None) -> list[str]:
        """The named services in stack order (all of them when none is named); an unknown name is refused."""
        known = self.all_services()
        if not services:
            return known
        asked = list(services)
        unknown = [s for s in asked if s not in known]
        if unknown:
            from polydemo.errors import PolydemoError

            extra = (
                " (kafka-2 and kafka-3 exist in cluster mode: `up --kafka-brokers 3`)"
                if any(u in CLUSTER_BROKERS for u in unknown)
                else ""
            )
            raise PolydemoError(f"unknown service {unknown[0]!r}{extra}", hint=f"services are: {', '.join(known)}")
        return [s for s in known if s in asked]

    # ---- optional abilities: a default here, overridden by the runtime that has them
    def controller_leader(self) -> tuple[int, int] | None:
        """Cluster mode: (leader id, epoch) of the KRaft controller quorum; None when it cannot be told."""
        return None

    def connector_overrides(self) -> dict[str, str]:
        """Keys to replace in the Debezium connector's config (none: Connect reaches Postgres as the host does)."""
        return {}

    def data_location(self) -> str:
        """Where the stack's data is kept, in words (``down`` says it is kept there)."""
        return str(self.settings.home / "data")

    def disk_usage(self, services: Iterable[str]) -> list[DiskUsage]:
        """Each service's data directory and its free space (``polydemo/diskspace.py``), those that can be read."""
        return []

    def log_tail(self, service: str, lines: int = 200) -> str:
        """The last lines of a service's log ("" when there is none): why a stopped server stopped."""
        return ""

    def logs_argv(self, service: str, follow: bool = False, lines: int = 40) -> list[str] | None:
        """A command that prints (and with ``follow`` streams) a service's log, when the runtime has one;
        None: read :meth:`log_path` instead."""
        return None

    @abstractmethod
    def up(
        self, services: Iterable[str] | None = None, keep: bool = False, progress: ProgressFn = _ignore
    ) -> UpResult: ...

    @abstractmethod
    def down(self, services: Iterable[str] | None = None, progress: ProgressFn = _ignore) -> dict[str, str]: ...

    @abstractmethod
    def status(self, services: Iterable[str] | None = None) -> list[ServiceStatus]: ...

    @abstractmethod
    def log_path(self, service: str) -> Path | None: ...

    # Drills: what scenarios do to a store (stop/kill/start/pause/resume one service).
    @abstractmethod
    def stop_service(self, service: str) -> str: ...

    @abstractmethod
    def kill_service(self, service: str) -> str: ...

    @abstractmethod
    def start_service(self, service: str) -> str: ...

    @abstractmethod
    def pause_service(self, service: str) -> str: ...

    @abstractmethod
    def resume_service(self, service: str) -> str: ...
