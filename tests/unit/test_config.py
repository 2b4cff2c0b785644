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
