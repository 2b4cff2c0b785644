"""Failure paths on the real engine: each is one clear error line, and nothing is left half-started.

Runs after test_1_stack (the stack is down). Each case uses an extra compose override (after the harness's
stand-ins) or a real obstacle (a port held by a socket, the engine stopped by its pid).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.docker.conftest import (
    HARNESS,
    PORT_OFFSET,
    ROOT,
    cli_env,
    compose_down_volumes,
    project_containers,
    run_cli,
    wait_for,
)


@pytest.fixture(autouse=True)
def clean_project(home, docker_client):
    compose_down_volumes(home)
    yield
    compose_down_volumes(home)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("error:")]


def with_override(home: Path, tmp_path: Path, text: str) -> dict:
    extra = tmp_path / "extra.yml"
    extra.write_text(text)
    base = os.environ.get("POLYDEMO_COMPOSE_OVERRIDE", "")
    return cli_env(home, POLYDEMO_COMPOSE_OVERRIDE=os.pathsep.join(filter(None, [base, str(extra)])))


def assert_nothing_started(docker_client):
    left = [(c.name, c.status) for c in project_containers(docker_client)]
    assert left == [], f"left behind: {left}"


def test_missing_image_with_pull_policy_never_is_one_line_and_starts_nothing(home, tmp_path, docker_client):
    env = with_override(
        home, tmp_path, "services:\n  redis:\n    image: localhost/polydemo-no-such-image:0\n    pull_policy: never\n"
    )
    res = run_cli(home, "up", env=env, timeout=300)
    assert res.returncode != 0
    errors = error_lines(res.stderr)
    assert len(errors) == 1 and "localhost/polydemo-no-such-image:0 of redis is not in the Docker engine" in errors[0]
    assert_nothing_started(docker_client)


def test_image_that_cannot_be_pulled_is_one_line_and_starts_nothing(home, tmp_path, docker_client):
    # A registry that refuses connections: the real `docker compose pull` fails.
    env = with_override(
        home, tmp_path, "services:\n  neo4j:\n    image: 127.0.0.1:1/polydemo/none:0\n    pull_policy: missing\n"
    )
    res = run_cli(home, "up", env=env, timeout=300)
    assert res.returncode != 0
    errors = error_lines(res.stderr)
    assert len(errors) == 1, res.stderr
    assert "could not pull 127.0.0.1:1/polydemo/none:0: the registry cannot be reached" in errors[0]
    assert_nothing_started(docker_client)


def test_image_that_fails_to_build_is_one_line_and_starts_nothing(home, tmp_path, docker_client):
    ctx = tmp_path / "broken"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM localhost/polydemo-base:bookworm\nRUN echo 'polydemo: broken on purpose' && false\n"
    )
    env = with_override(
        home,
        tmp_path,
        f"services:\n  redis:\n    image: localhost/polydemo-broken:0\n"
        f"    pull_policy: build\n    build:\n      context: {ctx}\n"
        f"      network: host\n",
    )
    res = run_cli(home, "up", env=env, timeout=600)
    assert res.returncode != 0
    errors = error_lines(res.stderr)
    assert len(errors) == 1 and errors[0].startswith("error: could not build the image of redis"), res.stderr
    assert_nothing_started(docker_client)


def test_host_port_already_taken_is_one_line_and_leaves_nothing_running(home, docker_client):
    port = 6379 + int(PORT_OFFSET)
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", port))
    holder.listen(1)
    try:
        res = run_cli(home, "up", timeout=600)
    finally:
        holder.close()
    assert res.returncode != 0
    errors = error_lines(res.stderr)
    assert len(errors) == 1 and f"port {port} for redis is already in use" in errors[0], res.stderr
    assert "POLYDEMO_REDIS_PORT" in res.stderr
    assert_nothing_started(docker_client)


def test_engine_stopped_in_the_middle_of_up(home, docker_client):
    pidfile = Path(HARNESS) / "engine" / "dockerd.pid"
    assert pidfile.is_file(), "the harness records dockerd's pid there"
    proc = subprocess.Popen(
        [str(Path(os.sys.executable).parent / "polydemo"), "up"],
        cwd=str(ROOT),
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Some containers are running, the stack is not healthy yet: stop the engine there.
        wait_for(
            lambda: any(c.status == "running" for c in project_containers(docker_client)),
            120,
            "a first container running",
        )
        dockerd = int(pidfile.read_text())
        os.kill(dockerd, signal.SIGTERM)
        _out, err = proc.communicate(timeout=300)
        wait_for(lambda: not _alive(dockerd), 60, f"dockerd {dockerd} to exit")
    finally:
        if proc.poll() is None:
            proc.kill()
    restart = subprocess.run(
        ["bash", str(ROOT / "scripts" / "docker-harness.sh"), "start"], capture_output=True, text=True, timeout=180
    )
    assert restart.returncode == 0, restart.stderr
    assert proc.returncode != 0
    errors = error_lines(err)
    assert len(errors) == 1 and "the Docker engine stopped answering during `up`" in errors[0], err
    import docker

    client = docker.from_env(timeout=30)
    # The engine stopped the containers with itself (no restart policy): nothing runs after its restart,
    assert [c.name for c in project_containers(client, all_=False)] == []
    # and `down`, as the hint says, removes what is left.
    res = run_cli(home, "down", timeout=300)
    assert res.returncode == 0, res.stderr
    assert project_containers(client) == []
