"""The Docker engine, through the Docker SDK (``docker`` on PyPI): one client that has answered a ping (or
the one-line 'engine not running' error), the project's containers, and whether the engine is still there."""

from __future__ import annotations

import os

from polydemo.errors import PolydemoError
from polydemo.runtime.docker.compose import ComposeProject
from polydemo.runtime.docker.failures import ENGINE_GONE
from polydemo.runtime.docker.output import KNOWN_SERVICES

DEFAULT_ENGINE_SOCKET = "unix:///var/run/docker.sock"
ENGINE_HINT = "start Docker Desktop (on Linux: `sudo systemctl start docker`), or use --runtime local"


class Engine:
    """The engine that runs ``project``'s containers (the docker CLI, through the project's seam, says where
    the current context's engine is)."""

    def __init__(self, project: ComposeProject):
        self.project = project
        self._client = None

    def url(self) -> str | None:
        """The engine address of the current docker context, when DOCKER_HOST does not say.

        The SDK's from_env() reads DOCKER_HOST only, but Colima, OrbStack, Rancher Desktop and Docker
        Desktop's own context put the socket elsewhere; the CLI knows where, without an engine.
        """
        if os.environ.get("DOCKER_HOST"):
            return None
        res = self.project.run(["docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"], timeout=10)
        host = res.output.strip().splitlines()[-1].strip() if res.ok and res.output.strip() else ""
        if host.startswith(("unix://", "npipe://")) and host != DEFAULT_ENGINE_SOCKET:
            return host
        return None

    def client(self):
        """A Docker SDK client that has answered a ping, or the one-line 'engine not running' error."""
        if self._client is not None:
            return self._client
        url = self.url()
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

    def fresh_client(self):
        """A new SDK client (its own connection), for the is-the-engine-still-there check."""
        import docker

        url = self.url()
        return docker.DockerClient(base_url=url, timeout=5) if url else docker.from_env(timeout=5)

    def answers(self, output: str = "") -> bool:
        """False when the engine is gone: Compose said it could not reach it, or a NEW client's ping fails.
        (The cached client's keep-alive connection is still served while a stopping dockerd shuts down.)"""
        if any(k in output.lower() for k in ENGINE_GONE):
            return False
        try:
            client = self.fresh_client()
            try:
                return bool(client.ping())
            finally:
                getattr(client, "close", lambda: None)()
        except Exception:  # noqa: BLE001 - any failure to ping means the engine is gone: that is the answer
            return False

    def containers(self) -> dict:
        """Service -> container of the compose project (stopped ones too)."""
        found: dict = {}
        label = f"com.docker.compose.project={self.project.name}"
        for c in self.client().containers.list(all=True, filters={"label": label}):
            svc = (c.labels or {}).get("com.docker.compose.service")
            if svc in KNOWN_SERVICES and svc not in found:
                found[svc] = c
        return found
