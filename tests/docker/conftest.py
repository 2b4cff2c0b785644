"""The docker tests: polydemo's docker runtime on a real Docker engine, through its CLI, as a user runs it.

They need what scripts/docker-harness.sh prepares (`make docker-test` runs both): a private dockerd
(DOCKER_HOST), Docker Compose v5.6.0, and the stand-in images named by tests/docker/compose.standins.yml
(POLYDEMO_COMPOSE_OVERRIDE). Without POLYDEMO_DOCKER_HARNESS they are skipped, saying so; with it, an engine
that does not answer is a failure, not a skip. Ports: POLYDEMO_PORT_OFFSET 30000 (other suites use 20000).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POLYDEMO = str(Path(sys.executable).parent / "polydemo")
PORT_OFFSET = os.environ.get("POLYDEMO_DOCKER_PORT_OFFSET", "30000")
HARNESS = os.environ.get("POLYDEMO_DOCKER_HARNESS")
PROJECT = "polydemo"

SKIP_REASON = (
    "no Docker engine prepared by the harness: run `make docker-test` (scripts/docker-harness.sh "
    "starts a private dockerd and builds the stand-in images), or set POLYDEMO_DOCKER_HARNESS, "
    "DOCKER_HOST and POLYDEMO_COMPOSE_OVERRIDE yourself"
)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.docker)
            if not HARNESS:
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def timings_line(name: str, value: float, unit: str = "s") -> None:
    """Measured figures, collected by the harness into its timings file (and printed)."""
    print(f"\n[docker-timing] {name}: {value:.1f}{unit}")
    path = os.environ.get("POLYDEMO_DOCKER_TIMINGS")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{name} {value:.1f}{unit}\n")


@pytest.fixture(scope="session")
def docker_client():
    import docker

    client = docker.from_env(timeout=30)
    client.ping()  # the harness said it prepared an engine: if it does not answer, fail loudly
    return client


@pytest.fixture(scope="session")
def home():
    path = tempfile.mkdtemp(prefix="polydemo-docker-test-")
    yield Path(path)
    if os.environ.get("POLYDEMO_KEEP_TEST_HOME") != "1":
        subprocess.run(["rm", "-rf", path], check=False)


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("POLYDEMO_") or k in ("POLYDEMO_COMPOSE_OVERRIDE", "POLYDEMO_CACHE")
    }
    env.update(
        {
            "POLYDEMO_HOME": str(home),
            "POLYDEMO_PORT_OFFSET": PORT_OFFSET,
            "POLYDEMO_RUNTIME": "docker",
            "NO_COLOR": "1",
            "COLUMNS": "160",
        }
    )
    env.update(extra)
    return env


def run_cli(home: Path, *args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [POLYDEMO, *args], capture_output=True, text=True, timeout=timeout, cwd=str(ROOT), env=env or cli_env(home)
    )


def project_containers(client, all_: bool = True):
    """The project's containers. The SDK lists ids, then inspects each: a container removed in between (an
    `up` cleaning up, seen once on a loaded machine) is a 404, so the listing is taken again."""
    import docker

    for _ in range(4):
        try:
            return client.containers.list(all=all_, filters={"label": f"com.docker.compose.project={PROJECT}"})
        except docker.errors.NotFound:
            time.sleep(0.5)
    return client.containers.list(all=all_, filters={"label": f"com.docker.compose.project={PROJECT}"})


def project_networks(client):
    return client.networks.list(filters={"label": f"com.docker.compose.project={PROJECT}"})


def project_volumes(client):
    return client.volumes.list(filters={"label": f"com.docker.compose.project={PROJECT}"})


def compose_down_volumes(home: Path) -> None:
    """A clean slate: no container, network or volume of the project (first start is tested each run).

    Twice: with docker-compose.yml alone (its volumes, kafka_data included) and with the cluster file and
    profile (kafka-2/kafka-3 and the kafka_cluster_* volumes). Once with both files is not enough: there
    `kafka` uses kafka_cluster_1, and Compose leaves kafka_data (Connect's offsets!) behind."""
    overrides = []
    for extra in filter(None, os.environ.get("POLYDEMO_COMPOSE_OVERRIDE", "").split(os.pathsep)):
        overrides += ["-f", extra]
    single = ["-f", str(ROOT / "docker-compose.yml"), *overrides]
    cluster = ["-f", str(ROOT / "docker-compose.yml"), "-f", str(ROOT / "docker-compose.cluster.yml"), *overrides]
    for files in ([*cluster, "--profile", "cluster"], single):
        subprocess.run(
            ["docker", "compose", *files, "-p", PROJECT, "down", "-v", "--timeout", "5"],
            capture_output=True,
            text=True,
            timeout=300,
            env=cli_env(home),
            cwd=str(ROOT),
        )


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def json_of(res: subprocess.CompletedProcess):
    assert res.returncode == 0, f"exit {res.returncode}\nstdout:\n{res.stdout[-3000:]}\nstderr:\n{res.stderr[-3000:]}"
    return json.loads(res.stdout)
