"""Choose a Runtime: docker when an engine answers (and the user did not say otherwise), else local."""

from __future__ import annotations

from polydemo.config import Settings
from polydemo.runtime.base import Runtime, ServiceStatus, UpResult


def docker_engine_reachable(timeout: float = 2.0) -> bool:
    """True when a Docker engine answers a ping at DOCKER_HOST (or the default socket)."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure means "no engine"
        return False


def resolve_runtime_name(settings: Settings) -> str:
    if settings.runtime != "auto":
        return settings.runtime
    return "docker" if docker_engine_reachable() else "local"


def get_runtime(settings: Settings) -> Runtime:
    name = resolve_runtime_name(settings)
    if name == "docker":
        from polydemo.runtime.docker import DockerRuntime

        return DockerRuntime(settings)
    from polydemo.runtime.local import LocalRuntime

    return LocalRuntime(settings)


__all__ = ["Runtime", "ServiceStatus", "UpResult", "get_runtime", "resolve_runtime_name", "docker_engine_reachable"]
