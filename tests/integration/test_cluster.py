"""Kafka as a three-broker KRaft cluster (``up --kafka-brokers 3``), on a stack of its own.

The module starts its own cluster stack (ports: the suite's offset + 1000, a home of its own), seeds
nothing, and checks ``down`` at the end with the suite's own helper. Every broker, the topics'
replication and the failure drills are real: SIGKILL of a partition leader during a 2,000 sign-up
burst, and a rolling restart of all three brokers under load, each ending with every projection exact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time

import pytest

from polydemo.errors import PolydemoError
from tests.integration.conftest import TEST_OFFSET, down_leaves_no_process_behind, wait_for

CLUSTER_OFFSET = str(int(TEST_OFFSET) + 1000)


@pytest.fixture(scope="module")
def cluster(request):
    from polydemo import stack as stack_lib
    from polydemo.config import Settings, remember_kafka_brokers
    from polydemo.runtime.local import LocalRuntime

    home = tempfile.mkdtemp(prefix="polydemo-cluster-")
    os.chmod(home, 0o755)  # the postgres system user must reach its data directory
    keys = ("POLYDEMO_HOME", "POLYDEMO_PORT_OFFSET", "POLYDEMO_RUNTIME", "POLYDEMO_KAFKA_BROKERS")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({"POLYDEMO_HOME": home, "POLYDEMO_PORT_OFFSET": CLUSTER_OFFSET, "POLYDEMO_RUNTIME": "local"})
    os.environ.pop("POLYDEMO_KAFKA_BROKERS", None)
    from pathlib import Path

    remember_kafka_brokers(Path(home), 3)  # what `up --kafka-brokers 3` records; later commands read it
    runtime = LocalRuntime(Settings.from_env())
    problems: list[str] = []
    try:
        t0 = time.monotonic()
        try:
            stack_lib.bring_up(runtime)
        except PolydemoError as exc:  # the server's own log tail, which pytest would not show
            pytest.fail(f"cluster up failed: {exc}\n{exc.details or ''}\n{exc.hint or ''}")
        print(f"\n[cluster] up in {time.monotonic() - t0:.1f}s at {home}")
        yield runtime
        problems = down_leaves_no_process_behind(runtime)
    finally:
        stack_lib.bring_down(runtime)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if os.environ.get("POLYDEMO_KEEP_TEST_HOME") != "1":  # as the suite's own stack: logs kept for a post-mortem
            shutil.rmtree(home, ignore_errors=True)
    assert not problems, "`polydemo down` left the cluster running: " + "; ".join(problems)


def _admin(settings):
    from polydemo.stores.kafka import KafkaAdmin

    return KafkaAdmin(settings)


def _all_in_sync(settings, topics) -> bool:
    try:
        states = _admin(settings).partition_states(topics)
    except Exception:  # noqa: BLE001 - a broker restarting: not yet
        return False
    return bool(states) and all(len(p.isr) == 3 and p.leader >= 0 for p in states)


def _users(settings) -> int:
    from polydemo.scenario import checks

    return checks.metric(settings, "users")


def _exact(settings, expected_users: int, timeout: float = 120.0) -> None:
    """Every projector caught up, Postgres has ``expected_users``, and Neo4j and Redis exactly as many."""
    from polydemo.scenario import checks
    from polydemo.seed import wait_converged

    def converged():
        try:
            return wait_converged(settings, timeout=5)
        except Exception:  # noqa: BLE001 - the lag read failing during a failover: not yet
            return False

    def counts():
        try:
            return (
                checks.metric(settings, "users"),
                checks.metric(settings, "graph_users"),
                checks.metric(settings, "cache_profiles"),
            )
        except Exception:  # noqa: BLE001 - a store read failing: not yet
            return None

    # Lag 0 is not enough: while Debezium waits for the new leader, the topic has not moved yet either.
    wait_for(
        lambda: counts() == (expected_users,) * 3 and converged(),
        timeout=timeout,
        interval=0.5,
        what=f"{expected_users} users in Postgres, Neo4j and Redis, and lag 0",
    )
    assert counts() == (expected_users,) * 3


def test_status_lists_three_brokers_and_topics_are_replicated(cluster):
    from typer.testing import CliRunner

    from polydemo.cli import app
    from polydemo.pipeline.topics import all_topics

    settings = cluster.settings
    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output[-800:]
    doc = json.loads(result.stdout)
    assert doc["kafka_brokers"] == 3
    assert [(b["id"], b["port"], b["state"]) for b in doc["brokers"]] == [
        (n, settings.broker_port(n), "up") for n in (1, 2, 3)
    ]
    assert doc["controller_leader"] in (1, 2, 3)
    assert sum(b["controller_leader"] for b in doc["brokers"]) == 1
    kafka = _admin(settings)
    internal = ["__consumer_offsets", "polydemo-connect-configs", "polydemo-connect-offsets", "polydemo-connect-status"]
    for p in kafka.partition_states([*all_topics(settings), *internal]):
        assert len(p.replicas) == 3, p
    for topic in all_topics(settings):
        assert kafka.topic_config(topic)["min.insync.replicas"] == "2", topic
    assert kafka.live_brokers() == {1, 2, 3}


def test_the_dashboard_lists_every_broker(cluster):
    """kafka-2 and kafka-3 are in the dashboard's service list; a stopped one is shown down (once the cluster
    metadata no longer lists it), the others stay up, and it comes back."""
    from polydemo.dashboard.snapshot import Collector

    settings = cluster.settings
    col = Collector(settings)
    seen: list = []

    def brokers(want: dict[str, bool]):
        snap = col.collect()
        got = {s.name: s.ok for s in snap.services if s.name.startswith("kafka")}
        seen[:] = [got, snap.kafka.brokers if snap.kafka else None, snap.service("kafka-3")]
        return snap if got == want else None

    up = dict.fromkeys(("kafka", "kafka-2", "kafka-3"), True)
    try:
        wait_for(lambda: brokers(up), timeout=30, what="3 brokers up on the dashboard")
        assert cluster.stop_service("kafka-3") in ("stopped", "killed")
        try:
            snap, took = wait_for(
                lambda: brokers({"kafka": True, "kafka-2": True, "kafka-3": False}), timeout=30, interval=0.3
            )
        except AssertionError:
            raise AssertionError(f"kafka-3 not down on the dashboard: last {seen}") from None
        print(f"\n[cluster] dashboard: kafka-3 down {took:.1f}s after its stop")
        assert "not in the cluster metadata" in (snap.service("kafka-3").error or "")
        assert cluster.start_service("kafka-3") == "started"
        wait_for(lambda: brokers(up), timeout=60, interval=0.5, what="kafka-3 back on the dashboard")
        wait_for(lambda: _all_in_sync(settings, [settings.topic_prefix + ".public.users"]), timeout=90, what="ISR 3")
    finally:
        col.close()
        if not next(s for s in cluster.status(["kafka-3"]) if s.service == "kafka-3").healthy:
            cluster.start_service("kafka-3")  # the other tests need it


def test_sigkill_of_the_users_leader_during_a_2000_burst_loses_nothing(cluster):
    from polydemo import load as load_lib
    from polydemo.pipeline.events import topics

    settings = cluster.settings
    users_topic = topics(settings.topic_prefix)["users"]
    _preferred_leader(settings, users_topic)
    leader = _admin(settings).partition_states([users_topic])[0].leader
    assert leader in (1, 2, 3)
    before = _users(settings)
    done: list[str] = []
    burst = threading.Thread(target=lambda: done.extend(load_lib.signup_burst(settings, 2000, "ck", rate=400)))
    burst.start()
    time.sleep(1.5)  # the burst is under way
    assert cluster.kill_service(settings.broker_service(leader)) == "killed"
    new, took = wait_for(
        lambda: (s := _admin(settings).partition_states([users_topic])[0]).leader not in (-1, leader) and s,
        timeout=30,
        interval=0.2,
        what="a new leader for the users topic",
    )
    print(f"\n[cluster] users leader {leader} -> {new.leader} in {took:.1f}s, isr {new.isr}")
    assert leader not in new.isr
    burst.join(timeout=120)
    assert len(done) == 2000
    _exact(settings, before + 2000)
    assert cluster.start_service(settings.broker_service(leader)) == "started"
    wait_for(lambda: _all_in_sync(settings, [users_topic]), timeout=90, interval=0.5, what="ISR back to 3")
    _exact(settings, before + 2000)


def test_rolling_restart_of_all_three_brokers_under_load(cluster):
    from polydemo import load as load_lib
    from polydemo.pipeline.topics import all_topics

    settings = cluster.settings
    before = _users(settings)
    done: list[str] = []
    stop = threading.Event()

    def trickle():
        i = 0
        while not stop.is_set():
            done.extend(load_lib.signup_burst(settings, 20, f"rr{i}", rate=40))
            i += 1

    writer = threading.Thread(target=trickle)
    writer.start()
    try:
        for n in (1, 2, 3):
            service = settings.broker_service(n)
            assert cluster.stop_service(service) in ("stopped", "killed")
            assert cluster.start_service(service) == "started"
            wait_for(lambda: _all_in_sync(settings, all_topics(settings)), timeout=90, interval=0.5, what="ISR 3")
    finally:
        stop.set()
        writer.join(timeout=60)
    assert len(done) >= 20
    _exact(settings, before + len(done))


CLUSTER_SCENARIOS = ("kill-broker", "min-insync")
"""The built-in scenarios that need three brokers: run here, on the cluster (test_scenarios runs the others)."""


@pytest.mark.parametrize("name", CLUSTER_SCENARIOS)
def test_cluster_scenario_passes(cluster, name):
    from polydemo.app import Demo
    from polydemo.scenario import loader

    t0 = time.monotonic()
    result = Demo(cluster.settings, cluster).run_scenario(loader.load(name), speed=100)
    print(f"\n[cluster] scenario {name}: {time.monotonic() - t0:.1f}s at --speed 100")
    assert result.passed, [(f.index + 1, f.kind, f.message, f.expected, f.seen) for f in result.failures]
    assert all(s.healthy for s in cluster.status()), "the scenario left a broker (or another service) stopped"


def _preferred_leader(settings, topic: str) -> None:
    """Hand the partition to its preferred replica first: a leader that is not (a cold start can leave one)
    is moved back by the brokers' imbalance check (every 10 s), and once that happened between reading the
    leader and killing it: "leader 1 -> 3 in 0.2 s, isr (1, 2, 3)", broker 1 still alive."""
    from confluent_kafka import ElectionType, KafkaException, TopicPartition

    try:
        # no request_timeout: confluent-kafka 2.16.1's binding rejects it; the future's timeout bounds the wait
        admin = _admin(settings)  # kept: a dropped client destroys its handle before the answer comes
        admin.client.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, 0)]).result(timeout=15)
    except KafkaException as exc:  # ELECTION_NOT_NEEDED: it already leads
        if "ELECTION_NOT_NEEDED" not in str(exc):
            raise
