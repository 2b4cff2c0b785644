"""docker-compose.cluster.yml (Kafka cluster mode on docker) against docker-compose.yml and Settings.

As test_compose.py: no engine, no Compose; the files are read with yaml.safe_load (which resolves the YAML
anchors and merge keys the cluster file uses, as Compose does) and merged as ``docker compose -f a -f b``
merges an environment map (per key, the later file wins)."""

from __future__ import annotations

import re

import pytest
import yaml

from polydemo import resources
from polydemo.config import DEFAULT_EXTRA_PORTS, DEFAULT_PORTS, Settings
from polydemo.runtime.docker import CLUSTER_FILE, COMPOSE_FILE, DockerRuntime

BASE = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
DOC = yaml.safe_load(CLUSTER_FILE.read_text())
CLUSTER = DOC["services"]
INTERP = re.compile(r"\$\{(\w+):-([^}]*)\}")
BROKERS = {1: "kafka", 2: "kafka-2", 3: "kafka-3"}


def cluster_settings() -> Settings:
    """Made in the test, not at import: at collection the developer's POLYDEMO_* variables are still set
    (a POLYDEMO_PORT_OFFSET in the shell failed three of these tests)."""
    return Settings.from_env(home="/tmp/polydemo-test-home").with_overrides(kafka_brokers=3)


def resolve(value) -> str:
    return INTERP.sub(lambda m: m.group(2), str(value))


def merged_env(service: str) -> dict[str, str]:
    """The environment Compose gives the service in cluster mode (base file, then the cluster file)."""
    env = dict((BASE.get(service) or {}).get("environment") or {})
    env.update(CLUSTER[service].get("environment") or {})
    return {k: resolve(v) for k, v in env.items()}


def test_the_cluster_file_adds_two_brokers_and_changes_only_kafka_and_connect():
    assert set(CLUSTER) == {"kafka", "kafka-2", "kafka-3", "connect"}
    assert "name" not in DOC  # the project name comes from docker-compose.yml
    # kafka and connect are changed, not redefined: the image and healthcheck stay docker-compose.yml's
    for name in ("kafka", "connect"):
        assert set(CLUSTER[name]) <= {"environment", "volumes", "depends_on", "healthcheck"}, name
    assert set(CLUSTER["kafka"]["healthcheck"]) == {"start_period"}
    assert [cluster_settings().broker_service(n) for n in cluster_settings().broker_ids()] == list(BROKERS.values())


@pytest.mark.parametrize("node", [2, 3])
def test_brokers_2_and_3_are_kafka_but_for_node_id_and_advertised_address(node):
    svc = CLUSTER[BROKERS[node]]
    kafka = BASE["kafka"]
    assert svc["image"] == kafka["image"]
    assert svc["healthcheck"] == {**kafka["healthcheck"], **CLUSTER["kafka"]["healthcheck"]}
    assert svc["healthcheck"]["start_period"] == "60s"
    assert svc["mem_limit"] == kafka["mem_limit"]
    mine, first = merged_env(BROKERS[node]), merged_env("kafka")
    differ = {k for k in mine.keys() | first.keys() if mine.get(k) != first.get(k)}
    assert differ == {"KAFKA_NODE_ID", "KAFKA_ADVERTISED_LISTENERS"}, differ
    assert mine["KAFKA_NODE_ID"] == str(node) and first["KAFKA_NODE_ID"] == "1"
    assert "restart" not in svc and "container_name" not in svc


def test_every_node_is_a_voter_of_one_three_node_quorum_with_one_cluster_id():
    voters = {}
    for name in BROKERS.values():
        env = merged_env(name)
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        voters[name] = env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
        assert "CONTROLLER://:9093" in env["KAFKA_LISTENERS"]
    assert len(set(voters.values())) == 1
    listed = dict(v.split("@") for v in voters["kafka"].split(","))
    assert listed == {str(n): f"{name}:9093" for n, name in BROKERS.items()}
    ids = {merged_env(name)["CLUSTER_ID"] for name in BROKERS.values()}
    assert len(ids) == 1
    (cid,) = ids
    # another cluster than the single broker's (separate volumes; a mix-up fails loudly), and a valid
    # KRaft id: a 16-byte UUID in base64url without padding, not starting with "-"
    assert cid != resolve(BASE["kafka"]["environment"]["CLUSTER_ID"])
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", cid)


FAILOVER = {
    k: v
    for k, v in (
        line.split("=", 1)
        for line in resources.path(resources.KAFKA_SERVER).read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    )
    if k.startswith(("broker.session", "broker.heartbeat", "replica.lag", "controller.quorum.", "leader.imbalance"))
    and k != "controller.quorum.voters"
}


def test_the_failover_timings_are_read_from_the_local_clusters_file():
    assert FAILOVER["broker.session.timeout.ms"] == "3000"
    assert FAILOVER["controller.quorum.fetch.timeout.ms"] == "1000"
    assert len(FAILOVER) == 7, sorted(FAILOVER)


@pytest.mark.parametrize("name", list(BROKERS.values()))
def test_replication_settings_are_the_local_clusters(name):
    env = merged_env(name)
    rf, isr = str(cluster_settings().replication_factor), str(cluster_settings().min_insync)
    assert (rf, isr) == ("3", "2")
    for key in (
        "KAFKA_DEFAULT_REPLICATION_FACTOR",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR",
    ):
        assert env[key] == rf, key
    for key in (
        "KAFKA_MIN_INSYNC_REPLICAS",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR",
    ):
        assert env[key] == isr, key
    assert env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
    for key, value in FAILOVER.items():  # the local cluster's failover timings, one for one
        assert env.get("KAFKA_" + key.upper().replace(".", "_")) == value, key
    # the log cleaner's buffer fits the 256 MB heap next to everything else (128 MB default: OOM seen)
    assert int(env["KAFKA_LOG_CLEANER_DEDUPE_BUFFER_SIZE"]) <= 64 * 2**20


@pytest.mark.parametrize("node", [2, 3])
def test_broker_ports_are_loopback_settings_defaults_and_advertised(node, monkeypatch):
    name = BROKERS[node]
    (spec,) = CLUSTER[name]["ports"]
    m = re.fullmatch(r"127\.0\.0\.1:(\$\{(\w+):-(\d+)\}):9092", spec)
    assert m, spec
    var = f"POLYDEMO_KAFKA_{node}_PORT"
    assert m.group(2) == var and int(m.group(3)) == DEFAULT_EXTRA_PORTS[f"kafka_{node}"]
    assert cluster_settings().broker_port(node) == DEFAULT_EXTRA_PORTS[f"kafka_{node}"]
    advertised = CLUSTER[name]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"HOST://127.0.0.1:{m.group(1)}" in advertised and f"PLAINTEXT://{name}:19092" in advertised
    monkeypatch.setenv("POLYDEMO_PORT_OFFSET", "26000")
    shifted = Settings.from_env(home="/tmp/polydemo-test-home").with_overrides(kafka_brokers=3)
    assert DockerRuntime(shifted, overrides=[]).compose_env()[var] == str(DEFAULT_EXTRA_PORTS[f"kafka_{node}"] + 26000)


def test_kafka_keeps_its_published_port_and_moves_to_a_volume_of_its_own():
    assert "ports" not in CLUSTER["kafka"]  # 127.0.0.1:9092 from docker-compose.yml
    declared = set(DOC["volumes"])
    for name in BROKERS.values():
        (vol,) = CLUSTER[name]["volumes"]
        source, target = vol.split(":")
        assert target == "/var/lib/kafka/data" and source in declared and source != "kafka_data"
    assert len({CLUSTER[n]["volumes"][0] for n in BROKERS.values()}) == 3


def test_connect_uses_all_three_brokers_and_replication_factor_3():
    env = merged_env("connect")
    assert env["BOOTSTRAP_SERVERS"].split(",") == [f"{n}:19092" for n in BROKERS.values()]
    for kind in ("CONFIG", "OFFSET", "STATUS"):
        assert env[f"CONNECT_{kind}_STORAGE_REPLICATION_FACTOR"] == "3"
    assert env["CONNECT_PRODUCER_ACKS"] == "all" and env["CONNECT_PRODUCER_ENABLE_IDEMPOTENCE"] == "true"
    deps = {**BASE["connect"]["depends_on"], **CLUSTER["connect"]["depends_on"]}
    assert deps == {n: {"condition": "service_healthy"} for n in BROKERS.values()}


def test_docker_runtime_supplies_every_variable_the_cluster_file_uses():
    text = CLUSTER_FILE.read_text()
    used = dict(INTERP.findall(text))
    assert set(used) == {"POLYDEMO_KAFKA_2_PORT", "POLYDEMO_KAFKA_3_PORT"}
    supplied = DockerRuntime(cluster_settings(), overrides=[]).compose_env()
    assert {k: supplied[k] for k in used} == used
    assert supplied["POLYDEMO_KAFKA_PORT"] == str(DEFAULT_PORTS["kafka"])


def test_cluster_memory_caps():
    total = sum(
        _mib(s["mem_limit"]) for s in {**BASE, **{k: v for k, v in CLUSTER.items() if "mem_limit" in v}}.values()
    )
    # the seven services' 4.1 GiB plus two brokers: a Docker VM of 6 GB fits it
    assert total <= 6 * 1024, total


def _mib(value) -> float:
    m = re.fullmatch(r"(\d+)([mg])", str(value))
    assert m, value
    return float(m.group(1)) * (1024 if m.group(2) == "g" else 1)
