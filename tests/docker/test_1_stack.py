"""End to end on a real Docker engine: up -> healthy -> seed -> scenarios -> dashboard frame -> down.

One stack for the module, from empty volumes. Every step goes through the `polydemo` CLI exactly as a user
types it (with --runtime docker, ports offset by 30000); nothing is mocked. The figures it measures (up,
scenario wall times, container memory) are printed and collected by the harness.
"""

from __future__ import annotations

import os
import time

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

SERVICES = ("postgres", "timeseries", "redis", "mongo", "neo4j", "kafka", "connect")
SCENARIOS = (
    "signup",
    "kill-consumer",
    "store-outage",
    "cdc-outage",
    "schema-change",
    "new-read-model",
    "outbox",
    "rebalance",
)


@pytest.fixture(scope="module")
def stack(home, docker_client):
    compose_down_volumes(home)
    assert project_containers(docker_client) == [], "a previous run left containers behind"
    t0 = time.monotonic()
    res = run_cli(home, "up", timeout=900)
    took = time.monotonic() - t0
    assert res.returncode == 0, f"`polydemo up` failed (exit {res.returncode}):\n{res.stderr[-4000:]}"
    timings_line("up (empty volumes) to all healthy + pipeline", took)
    yield home
    # Whatever happened, leave nothing running (test_down asserts the clean `down` itself).
    run_cli(home, "down", timeout=300)


def test_up_says_which_runtime_and_why_and_remembers_it(stack):
    res = run_cli(stack, "up", timeout=600)  # idempotent: everything is already running
    assert res.returncode == 0, res.stderr[-3000:]
    assert "docker runtime (--runtime docker was asked for)" in res.stderr
    assert (stack / "runtime").read_text().strip() == "docker"
    # auto now keeps docker for this home, and says why
    res = run_cli(stack, "up", "--json", timeout=600, env=cli_env(stack, POLYDEMO_RUNTIME="auto"))
    doc = json_of(res)
    assert doc["runtime"] == "docker" and "created with the docker runtime" in doc["runtime_reason"]
    assert sorted(doc["already_running"]) == sorted(SERVICES)


def test_status_json_shows_all_seven_healthy(stack, docker_client):
    doc = json_of(run_cli(stack, "status", "--json"))
    assert doc["runtime"] == "docker"
    states = {s["service"]: s["state"] for s in doc["services"]}
    assert states == {name: "healthy" for name in SERVICES}, states
    # each is a container of the project, and each runs the image compose was told to use
    containers = {c.labels["com.docker.compose.service"]: c for c in project_containers(docker_client, all_=False)}
    assert set(containers) == set(SERVICES)
    override = os.environ.get("POLYDEMO_COMPOSE_OVERRIDE", "")
    if "standins" in override:
        assert all("polydemo-standin" in (c.attrs["Config"]["Image"]) for c in containers.values())
    rss = {}
    for name, c in containers.items():
        mem = c.stats(stream=False)["memory_stats"]
        rss[name] = (mem.get("usage", 0) - (mem.get("stats") or {}).get("inactive_file", 0)) / 2**20
    print(
        "\n[docker-rss] "
        + ", ".join(f"{k} {v:.0f} MiB" for k, v in rss.items())
        + f"; total {sum(rss.values()):.0f} MiB"
    )
    timings_line("container memory, total (idle, after up)", sum(rss.values()), " MiB")
    for name, mib in rss.items():
        timings_line(f"container memory {name}", mib, " MiB")


def test_connector_reaches_postgres_by_its_service_name(stack):
    import httpx

    url = f"http://127.0.0.1:{8083 + int(PORT_OFFSET)}"
    cfg = httpx.get(f"{url}/connectors/polydemo-users/config", timeout=10).json()
    assert cfg["database.hostname"] == "postgres" and cfg["database.port"] == "5432"
    st = httpx.get(f"{url}/connectors/polydemo-users/status", timeout=10).json()
    assert st["connector"]["state"] == "RUNNING" and [t["state"] for t in st["tasks"]] == ["RUNNING"]


def test_seed(stack):
    t0 = time.monotonic()
    res = run_cli(stack, "seed", timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    timings_line("seed", time.monotonic() - t0)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_passes_on_docker(stack, name):
    t0 = time.monotonic()
    res = run_cli(stack, "scenario", "run", name, "--speed", "100", timeout=900)
    took = time.monotonic() - t0
    assert res.returncode == 0, f"scenario {name} failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    timings_line(f"scenario {name} (docker, --speed 100)", took)


def test_snapshot_shows_every_store(stack):
    # Right after cdc-outage's Connect restart a frame can catch a store probe timing out (seen once, in a
    # cold CI run with the machine busy): up to 6 frames, 5 s apart; which store was not ok is printed.
    for attempt in range(6):
        doc = json_of(run_cli(stack, "snapshot", "--json", timeout=120))
        assert doc["runtime"] == "docker"
        assert {s["name"] for s in doc["services"]} >= set(SERVICES)
        bad = {s["name"]: s["error"] for s in doc["services"] if not s["ok"]}
        if not bad:
            break
        print(f"\n[snapshot] frame {attempt + 1}: not ok: {bad}")
        time.sleep(5)
    assert bad == {}, f"stores not ok in 6 frames over 30 s: {bad}"
    for store in ("postgres", "timeseries", "mongo", "neo4j", "redis", "kafka", "connect"):
        assert doc[store] is not None, f"the frame has no {store} panel data"
    assert doc["connect"]["state"] == "RUNNING"
    assert doc["postgres"] and doc["mongo"]


def test_the_web_gateway_on_docker(stack):
    """The same gateway over the docker runtime: `web start`, a sign-up through GraphQL, its flow hop by hop."""
    import uuid

    import httpx

    assert json_of(run_cli(stack, "web", "start", "--json", timeout=120))["web"] in ("started", "already running")
    url = json_of(run_cli(stack, "web", "status", "--json", timeout=60))["url"]
    email = f"docker-web-{uuid.uuid4().hex[:8]}@example.org"
    r = httpx.post(
        f"{url}/graphql",
        json={
            "query": 'mutation($e: String!) { signUp(email: $e, name: "Docker Web", password: "long enough pw") '
            "{ token user { id } } }",
            "variables": {"e": email},
        },
        timeout=60,
    ).json()
    assert not r.get("errors"), r
    uid = r["data"]["signUp"]["user"]["id"]
    deadline = time.monotonic() + 60
    flow = None
    while time.monotonic() < deadline and flow is None:
        flows = httpx.get(f"{url}/api/flows", timeout=30).json()["flows"]
        flow = next((f for f in flows if f["key"] == uid and f["complete"]), None)
        time.sleep(0.5)
    assert flow is not None, "no complete flow of the sign-up within 60 s"
    assert flow["label"] == "Docker Web" and {"neo4j", "redis", "timeseries"} <= {h["node"] for h in flow["hops"]}
    snap = httpx.get(f"{url}/api/snapshot", timeout=30).json()
    assert snap["runtime"] == "docker"
    timings_line("web: sign-up commit -> visible in the last store", max(h["ms"] for h in flow["hops"]), unit="ms")


def test_down_leaves_no_container_network_or_process_but_keeps_volumes(stack, docker_client):
    from polydemo import procs

    pids = [procs.read_pid(p) for p in sorted((stack / "run").glob("projector-*.pid"))]
    assert pids and all(procs.process_of(pid) for pid in pids), "the projectors should run before `down`"
    t0 = time.monotonic()
    res = run_cli(stack, "down", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    timings_line("down", time.monotonic() - t0)
    assert project_containers(docker_client) == []
    assert project_networks(docker_client) == []
    assert all(procs.process_of(pid) is None for pid in pids), "a projector survived `down`"
    assert procs.alive(stack / "run" / "web.pid") is None, "the web gateway survived `down`"
    volumes = {v.name for v in project_volumes(docker_client)}
    assert {"polydemo_postgres_data", "polydemo_kafka_data", "polydemo_neo4j_data"} <= volumes, volumes
    assert "data kept in the Docker volumes" in res.stderr
