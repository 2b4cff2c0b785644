"""Kafka cluster mode on a real Docker engine: `up --kafka-brokers 3` -> three brokers healthy, every topic
on all three (RF 3, ISR 3, min.insync.replicas 2) -> the `kill-broker` scenario (SIGKILL of the leading
broker's container, `docker kill`) -> `down` leaves no container.

Its own home (the broker count is remembered per home) and empty volumes. One stack for the module; every
step through the `polydemo` CLI as a user types it. Figures (cluster up, scenario wall time, each container's
memory from `docker stats --no-stream`) are printed and collected by the harness.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.docker.conftest import (
    PORT_OFFSET,
    cli_env,
    compose_down_volumes,
    json_of,
    project_containers,
    project_networks,
    project_volumes,
    run_cli,
    timings_line,
)

BROKERS = ("kafka", "kafka-2", "kafka-3")
SERVICES = ("postgres", "timeseries", "redis", "mongo", "neo4j", *BROKERS, "connect")
OFFSET = int(PORT_OFFSET)
BOOTSTRAP = ",".join(f"127.0.0.1:{p + OFFSET}" for p in (9092, 9094, 9095))


@pytest.fixture(scope="module")
def cluster(docker_client):
    home = Path(tempfile.mkdtemp(prefix="polydemo-docker-cluster-"))
    compose_down_volumes(home)
    assert project_containers(docker_client) == [], "a previous run left containers behind"
    t0 = time.monotonic()
    # Four JVMs (three brokers, Connect) and Neo4j start at once on 2 cores: a wait of up to 420 s (the
    # default 180 s is for one broker), and --keep so that a failure can show the containers' own logs.
    env = cli_env(home, POLYDEMO_START_TIMEOUT="420")
    res = run_cli(home, "up", "--kafka-brokers", "3", "--keep", timeout=900, env=env)
    took = time.monotonic() - t0
    if res.returncode != 0:
        logs = _compose_logs(home, "kafka", "kafka-2", "kafka-3", "connect")
        compose_down_volumes(home)
        pytest.fail(
            f"`polydemo up --kafka-brokers 3` failed (exit {res.returncode}) after {took:.0f}s:\n"
            f"{res.stderr[-3000:]}\n--- container logs ---\n{logs}"
        )
    timings_line("cluster up (3 brokers, empty volumes) to all healthy + pipeline", took)
    yield home
    run_cli(home, "down", timeout=300)
    compose_down_volumes(home)  # the cluster's volumes too: the next run starts from empty ones
    subprocess.run(["rm", "-rf", str(home)], check=False)


def _compose_logs(home: Path, *services: str) -> str:
    out = []
    for svc in services:
        res = subprocess.run(
            ["docker", "logs", "--tail", "25", f"polydemo-{svc}-1"],
            capture_output=True,
            text=True,
            timeout=60,
            env=cli_env(home),
        )
        out.append(f"== {svc}\n{(res.stdout + res.stderr)[-2500:]}")
    return "\n".join(out)


def test_status_lists_three_healthy_brokers_and_a_controller_leader(cluster, docker_client):
    doc = json_of(run_cli(cluster, "status", "--json"))
    assert doc["runtime"] == "docker" and doc["kafka_brokers"] == 3
    states = {s["service"]: s["state"] for s in doc["services"]}
    assert states == {name: "healthy" for name in SERVICES}, states
    assert [(b["id"], b["service"], b["port"], b["state"]) for b in doc["brokers"]] == [
        (n, svc, port + OFFSET, "up") for n, svc, port in zip((1, 2, 3), BROKERS, (9092, 9094, 9095), strict=True)
    ]
    assert doc["controller_leader"] in (1, 2, 3)
    containers = {c.labels["com.docker.compose.service"]: c for c in project_containers(docker_client, all_=False)}
    assert set(containers) == set(SERVICES)
    for name in BROKERS:  # published on loopback only
        bindings = containers[name].attrs["HostConfig"]["PortBindings"]["9092/tcp"]
        assert [b["HostIp"] for b in bindings] == ["127.0.0.1"], bindings


def test_every_topic_is_on_all_three_brokers(cluster):
    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    md = admin.list_topics(timeout=10)
    assert sorted(md.brokers) == [1, 2, 3]
    topics = dict(md.topics)
    # the pipeline's topics (polydemo.*), Connect's (polydemo-connect-*) and the group offsets
    ours = sorted(n for n in topics if n.startswith("polydemo"))
    connects = [n for n in ours if n.startswith("polydemo-connect-")]
    assert len(connects) == 3 and "polydemo.public.users" in ours, ours
    assert "__consumer_offsets" in topics, sorted(topics)  # the projectors' groups have committed
    under = {}
    for name in [*ours, "__consumer_offsets"]:
        for p in topics[name].partitions.values():
            if len(p.replicas) != 3 or len(p.isrs) != 3:
                under[f"{name}/{p.id}"] = (p.replicas, p.isrs)
    assert under == {}, f"partitions not on 3 replicas / 3 in sync: {under}"
    sample = ["polydemo-connect-offsets", "polydemo.public.users", "__consumer_offsets"]
    futures = admin.describe_configs([ConfigResource("topic", n) for n in sample])
    for res, fut in futures.items():
        assert fut.result()["min.insync.replicas"].value == "2", res.name
    print(f"\n[docker-cluster] {len(ours)} topics ({', '.join(ours)}) + __consumer_offsets: RF 3, ISR 3, min.insync 2")


def test_memory_of_the_cluster(cluster):
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}"],
        capture_output=True,
        text=True,
        timeout=120,
        env=cli_env(cluster),
    )
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.strip().splitlines() if line.startswith("polydemo")]
    assert len(rows) == len(SERVICES), out.stdout
    total = 0.0
    for name, usage in rows:
        used = usage.split("/")[0].strip()
        mib = float(used[:-3]) * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[used[-3:]]
        total += mib
        timings_line(f"cluster container memory {name}", mib, " MiB")
    print("\n[docker-cluster-stats] " + "; ".join(f"{n} {u}" for n, u in rows))
    timings_line("cluster container memory, total (docker stats, idle after up)", total, " MiB")


def test_kill_broker_scenario_passes_on_docker(cluster, docker_client):
    t0 = time.monotonic()
    # PYTHONFAULTHANDLER: should the client process crash (it once died of SIGSEGV in librdkafka while a
    # broker was down), its Python stack is printed.
    env = cli_env(cluster, PYTHONFAULTHANDLER="1")
    res = run_cli(cluster, "scenario", "run", "kill-broker", "--speed", "100", timeout=900, env=env)
    took = time.monotonic() - t0
    assert res.returncode == 0, f"kill-broker failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    timings_line("scenario kill-broker (docker cluster, --speed 100)", took)
    # the killed broker's container was started again (the scenario's start_broker), all three run
    running = {c.labels["com.docker.compose.service"] for c in project_containers(docker_client, all_=False)}
    assert set(BROKERS) <= running, running


def test_down_leaves_no_container_and_keeps_the_cluster_volumes(cluster, docker_client):
    t0 = time.monotonic()
    res = run_cli(cluster, "down", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    timings_line("cluster down", time.monotonic() - t0)
    assert project_containers(docker_client) == []
    assert project_networks(docker_client) == []
    volumes = {v.name for v in project_volumes(docker_client)}
    assert {f"polydemo_kafka_cluster_{n}" for n in (1, 2, 3)} <= volumes, volumes
