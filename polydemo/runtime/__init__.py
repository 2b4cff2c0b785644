"""Choose a Runtime: what --runtime says, else what the home was created with, else docker when an engine
answers, else local (runtime/choice.py has the rules)."""

from __future__ import annotations

from polydemo.config import Settings
from polydemo.runtime.base import Runtime, ServiceStatus, UpResult
from polydemo.runtime.choice import Choice, choose, has_local_data, read_remembered


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


def engine_where() -> str:
    import os

    return os.environ.get("DOCKER_HOST") or "the default Docker socket"


def choose_runtime(settings: Settings) -> Choice:
    """The runtime for these Settings and the reason, said on every `up`."""
    return choose(
        settings.runtime,
        read_remembered(settings.home),
        has_local_data(settings.home),
        docker_engine_reachable,
        engine_where(),
    )


def resolve_runtime_name(settings: Settings) -> str:
    return choose_runtime(settings).name


def get_runtime(settings: Settings, choice: Choice | None = None) -> Runtime:
    name = (choice or choose_runtime(settings)).name
    if name == "docker":
        from polydemo.runtime.docker import DockerRuntime

        return DockerRuntime(settings)
    from polydemo.runtime.local import LocalRuntime

    return LocalRuntime(settings)


__all__ = [
    "Choice",
    "Runtime",
    "ServiceStatus",
    "UpResult",
    "choose_runtime",
    "docker_engine_reachable",
    "get_runtime",
    "resolve_runtime_name",
]
