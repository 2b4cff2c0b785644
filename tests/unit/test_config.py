import pytest

from polydemo.config import DEFAULT_PORTS, Settings
from polydemo.errors import PolydemoError


def test_offset_shifts_every_port(monkeypatch):
    monkeypatch.setenv("POLYDEMO_PORT_OFFSET", "1000")
    s = Settings.from_env(home="/tmp/x")
    assert s.ports == {k: v + 1000 for k, v in DEFAULT_PORTS.items()}
    assert s.extra_ports["kafka_controller"] == 10093


def test_single_port_override_wins(monkeypatch):
    monkeypatch.setenv("POLYDEMO_PORT_OFFSET", "1000")
    monkeypatch.setenv("POLYDEMO_REDIS_PORT", "7000")
    assert Settings.from_env(home="/tmp/x").ports["redis"] == 7000


def test_bad_port_is_one_clear_message(monkeypatch):
    monkeypatch.setenv("POLYDEMO_POSTGRES_PORT", "fivefour")
    with pytest.raises(PolydemoError) as exc:
        Settings.from_env(home="/tmp/x")
    assert "POLYDEMO_POSTGRES_PORT" in exc.value.message and "whole number" in exc.value.message


def test_out_of_range_port(monkeypatch):
    monkeypatch.setenv("POLYDEMO_PORT_OFFSET", "60000")
    with pytest.raises(PolydemoError, match="out of range"):
        Settings.from_env(home="/tmp/x")


def test_password_not_in_repr():
    s = Settings.from_env(home="/tmp/x")
    assert s.pg_password not in repr(s)


def test_unknown_runtime():
    with pytest.raises(PolydemoError, match="unknown runtime"):
        Settings.from_env(home="/tmp/x", runtime="podman")


def test_client_errors_are_attributed_to_their_store():
    import psycopg
    import redis

    from polydemo.cli.context import store_of

    assert store_of(psycopg.OperationalError("refused")) == "PostgreSQL"
    assert store_of(redis.exceptions.ConnectionError("refused")) == "Redis"
    assert store_of(ValueError("a bug")) is None


def test_kafka_brokers_default_one_three_from_env_or_the_home_and_bad_values_refused(tmp_path, monkeypatch):
    from polydemo.config import Settings, remember_kafka_brokers
    from polydemo.errors import PolydemoError

    monkeypatch.delenv("POLYDEMO_KAFKA_BROKERS", raising=False)
    monkeypatch.setenv("POLYDEMO_PORT_OFFSET", "0")
    one = Settings.from_env(home=tmp_path)
    assert one.kafka_brokers == 1 and one.kafka_bootstrap == "127.0.0.1:9092"
    assert (one.replication_factor, one.min_insync) == (1, 1)
    remember_kafka_brokers(tmp_path, 3)
    three = Settings.from_env(home=tmp_path)
    assert three.kafka_bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9095"
    assert [three.controller_port(n) for n in (1, 2, 3)] == [9093, 9096, 9097]
    assert (three.replication_factor, three.min_insync) == (3, 2) and three.port("kafka-3") == 9095
    monkeypatch.setenv("POLYDEMO_KAFKA_BROKERS", "2")
    with pytest.raises(PolydemoError, match="1 broker or a cluster of 3"):
        Settings.from_env(home=tmp_path)


def test_three_nodes_prepared_at_once_share_one_complete_cluster_id(tmp_path, monkeypatch):
    # A cold `up --kafka-brokers 3` prepares the three nodes in parallel: each must read the same, whole id
    # (one node once formatted with an empty id, read while the first writer was still writing).
    import threading

    from polydemo.config import Settings
    from polydemo.runtime import services

    settings = Settings.from_env(home=tmp_path)
    made = iter(["id-A", "id-B", "id-C", "id-D"])
    lock = threading.Lock()

    def slow_id() -> str:
        with lock:
            value = next(made)
        threading.Event().wait(0.01)  # every thread finds no file yet before the first one has written
        return value

    monkeypatch.setattr(services, "_kafka_cluster_id", slow_id)
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(services._shared_cluster_id(settings))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 3 and len(set(got)) == 1 and got[0].startswith("id-")
    assert services._shared_cluster_id(settings) == got[0]  # a later `up` reads the same id
