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

    @staticmethod
    def select(services: Iterable[str] | None) -> list[str]:
        if not services:
            return list(SERVICES)
        unknown = [s for s in services if s not in SERVICES]
        if unknown:
            from polydemo.errors import PolydemoError

            raise PolydemoError(f"unknown service {unknown[0]!r}", hint=f"services are: {', '.join(SERVICES)}")
        return [s for s in SERVICES if s in services]

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
