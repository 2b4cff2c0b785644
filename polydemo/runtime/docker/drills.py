"""The drills on docker: what scenarios do to one store's container (stop, kill, start, pause, resume),
through the Docker SDK, one container at a time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from polydemo.errors import PolydemoError, ServiceStartError

if TYPE_CHECKING:
    from polydemo.runtime.docker.runtime import DockerRuntime

ALIVE = ("running", "paused", "restarting")


class Drills:
    """One container at a time, for ``runtime`` (whose ``up`` creates a container that does not exist)."""

    def __init__(self, runtime: DockerRuntime):
        self.runtime = runtime

    def _container(self, service: str):
        self.runtime.select([service])
        self.runtime.compose.require_cli()
        return self.runtime.engine.containers().get(service)

    def _sdk(self, what: str, service: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - docker.errors.APIError and friends
            raise PolydemoError(
                f"could not {what} {service}: {str(exc).splitlines()[0][:200]}",
                hint=f"see `docker compose -p {self.runtime.project} ps`",
            ) from None

    def stop(self, service: str) -> str:
        c = self._container(service)
        if c is None or c.status not in ALIVE:
            return "not running"
        if c.status == "paused":
            self._sdk("resume", service, c.unpause)
        self._sdk("stop", service, lambda: c.stop(timeout=int(self.runtime.settings.stop_timeout)))
        return "stopped"

    def kill(self, service: str) -> str:
        c = self._container(service)
        if c is None or c.status not in ALIVE:
            return "not running"
        if c.status == "paused":
            self._sdk("resume", service, c.unpause)
        self._sdk("kill", service, lambda: c.kill(signal="SIGKILL"))
        return "killed"

    def start(self, service: str) -> str:
        c = self._container(service)
        if c is None:
            result = self.runtime.up([service])
            return "already running" if service in result.already_running else "started"
        if c.status in ALIVE:
            return "already running"
        for dep in self.runtime.depends_on(service):
            self.start(dep)
        self._sdk("start", service, c.start)
        self._wait_healthy(service, c)
        return "started"

    def _wait_healthy(self, service: str, c) -> None:
        timeout = self.runtime.wait_timeout()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            c.reload()
            state = c.attrs.get("State") or {}
            if state.get("Status") in ("exited", "dead"):
                raise ServiceStartError(
                    f"{service} exited during start-up (exit code {state.get('ExitCode')})",
                    hint=f"see `polydemo --runtime docker logs {service}`",
                    details=self.runtime.compose.logs_tail(service, 15) or None,
                )
            health = (state.get("Health") or {}).get("Status")
            if health in (None, "healthy"):
                return
            time.sleep(0.5)
        raise ServiceStartError(
            f"{service} was not healthy after {timeout:.0f}s",
            hint=f"see `polydemo --runtime docker logs {service}`",
            details=self.runtime.compose.logs_tail(service, 15) or None,
        )

    def pause(self, service: str) -> str:
        c = self._container(service)
        if c is None or c.status not in ALIVE:
            return "not running"
        if c.status != "paused":
            self._sdk("pause", service, c.pause)
        return "paused"

    def resume(self, service: str) -> str:
        c = self._container(service)
        if c is None or c.status != "paused":
            return "not paused"
        self._sdk("resume", service, c.unpause)
        return "resumed"
