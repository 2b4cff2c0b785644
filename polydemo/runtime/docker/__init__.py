"""The docker runtime: the stack as the Compose project ``polydemo`` (``docker-compose.yml``).

A package by concern (``runtime.py`` says which module holds what); every name is importable from here.

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

from polydemo.runtime.base import CLUSTER_BROKERS
from polydemo.runtime.docker.cluster import QUORUM_STATE, kafka_brokers_of
from polydemo.runtime.docker.compose import (
    CLUSTER_PROFILE,
    COMPOSE_EXTRA_PORTS,
    MIN_COMPOSE,
    PULL_TIMEOUT,
    ComposeProject,
)
from polydemo.runtime.docker.drills import Drills
from polydemo.runtime.docker.engine import DEFAULT_ENGINE_SOCKET, ENGINE_HINT, Engine
from polydemo.runtime.docker.failures import (
    DEFAULT_WAIT_TIMEOUT,
    LOCAL_HINT,
    engine_lost_error,
    missing_image_hint,
    pull_error,
    up_error,
)
from polydemo.runtime.docker.output import (
    CLUSTER_FILE,
    COMPOSE_FILE,
    KNOWN_SERVICES,
    PROJECT,
    ComposeResult,
    _failed_services,
    _services_in,
    compose_images,
    compose_services,
    compose_version,
    parse_ps_json,
    service_of_container,
)
from polydemo.runtime.docker.runtime import CONNECTOR_OVERRIDES, DEPENDS_ON, ENGINES, DockerRuntime

__all__ = [
    "CLUSTER_BROKERS",
    "CLUSTER_FILE",
    "CLUSTER_PROFILE",
    "COMPOSE_EXTRA_PORTS",
    "COMPOSE_FILE",
    "CONNECTOR_OVERRIDES",
    "DEFAULT_ENGINE_SOCKET",
    "DEFAULT_WAIT_TIMEOUT",
    "DEPENDS_ON",
    "ENGINES",
    "ENGINE_HINT",
    "KNOWN_SERVICES",
    "LOCAL_HINT",
    "MIN_COMPOSE",
    "PROJECT",
    "PULL_TIMEOUT",
    "QUORUM_STATE",
    "ComposeProject",
    "ComposeResult",
    "DockerRuntime",
    "Drills",
    "Engine",
    "_failed_services",
    "_services_in",
    "compose_images",
    "compose_services",
    "compose_version",
    "engine_lost_error",
    "kafka_brokers_of",
    "missing_image_hint",
    "parse_ps_json",
    "pull_error",
    "service_of_container",
    "up_error",
]
