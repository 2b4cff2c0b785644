"""Issue 2: the local stack's servers, through their official clients and the CLI."""

from __future__ import annotations

import json
import socket
import tempfile
import uuid

import pytest
from typer.testing import CliRunner

from polydemo import procs
from polydemo.cli import app
from polydemo.config import SERVICES, Settings
from polydemo.errors import PortInUseError
from polydemo.runtime.local import LocalRuntime
from polydemo.stores import cache, connect, graph, kafka, mongo, postgres, timeseries
from tests.integration.conftest import TEST_OFFSET

runner = CliRunner()
# A second, short-lived stack for the failure tests: 1000 ports above the suite's own (21000 by default), so
# two suites side by side (POLYDEMO_TEST_PORT_OFFSET) do not meet there either.
SPARE_OFFSET = str(int(TEST_OFFSET) + 1000)


def test_status_json_lists_all_seven_healthy(stack):
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["runtime"] == "local"
    states = {s["service"]: s["state"] for s in data["services"]}
    assert states == {name: "healthy" for name in SERVICES}
    assert all(s["pid"] and s["rss_bytes"] > 0 for s in data["services"])
    ts = next(s for s in data["services"] if s["service"] == "timeseries")
    assert "partitioned (timescaledb not installed)" in ts["engine"]


def test_postgres_write_read(stack):
    with postgres.connect(stack) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS scratch (k text primary key, v int)")
        conn.execute("INSERT INTO scratch VALUES ('a', 1) ON CONFLICT (k) DO UPDATE SET v = scratch.v + 1")
        assert conn.execute("SELECT v FROM scratch WHERE k = 'a'").fetchone()[0] >= 1
        assert conn.execute("SHOW wal_level").fetchone()[0] == "logical"


def test_timeseries_write_read(stack):
    with timeseries.connect(stack) as conn:
        eid = f"test:{uuid.uuid4()}"
        conn.execute(
            "INSERT INTO events (time, event_type, properties, event_id) VALUES (now(), 'probe', '{}', %s)", (eid,)
        )
        assert conn.execute("SELECT count(*) FROM events WHERE event_id = %s", (eid,)).fetchone()[0] == 1
        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'events'").fetchone()[0] == "p"


def test_events_are_partitioned_by_day_without_any_extension(stack):
    """Issue 24: no pg_partman (nor wal2json) is needed. polydemo makes the daily partitions itself, 30 days
    behind and 7 ahead, a row of today lands in today's partition (not DEFAULT), and `up`'s maintenance run is
    idempotent and makes nothing new the same day."""
    with timeseries.connect(stack) as conn:
        exts = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
        assert "pg_partman" not in exts and "timescaledb" not in exts, exts
        gateway = timeseries.Events(stack, conn)
        parts, _ = gateway.partitions()
        assert parts >= 38, parts
        assert conn.execute("SELECT polydemo_events_premake(0, 7)").fetchone()[0] == 0
        assert gateway.partitions()[0] == parts
        eid = f"test:{uuid.uuid4()}"
        conn.execute(
            "INSERT INTO events (time, event_type, properties, event_id) VALUES (now(), 'probe', '{}', %s)", (eid,)
        )
        where = conn.execute("SELECT tableoid::regclass::text FROM events WHERE event_id = %s", (eid,)).fetchone()[0]
        assert where == "events_p" + conn.execute("SELECT to_char(now(), 'YYYYMMDD')").fetchone()[0], where
        conn.execute("DELETE FROM events WHERE event_id = %s", (eid,))


def test_redis_write_read(stack):
    r = cache.connect(stack)
    r.set("scratch", "hello", ex=60)
    assert r.get("scratch") == "hello"


def test_mongo_write_read(stack):
    client = mongo.connect(stack)
    coll = client["scratch"]["things"]
    oid = coll.insert_one({"n": 1}).inserted_id
    assert coll.find_one({"_id": oid})["n"] == 1


def test_neo4j_write_read(stack):
    with graph.connect(stack) as driver, driver.session() as s:
        s.run("MERGE (:Scratch {k: 'x'})").consume()
        assert s.run("MATCH (n:Scratch {k: 'x'}) RETURN count(n) AS c").single()["c"] == 1


def test_kafka_produce_consume(stack):
    from confluent_kafka import Consumer, Producer

    topic = f"scratch-{uuid.uuid4().hex[:8]}"
    p = Producer(kafka.client_config(stack, **{"linger.ms": 0}))
    p.produce(topic, key=b"k", value=b"v")
    assert p.flush(10) == 0
    c = Consumer(kafka.client_config(stack, **{"group.id": topic, "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    try:
        for _ in range(100):
            m = c.poll(0.2)
            if m is not None and not m.error():
                assert m.value() == b"v"
                return
        pytest.fail("no message consumed")
    finally:
        c.close()


def test_connect_lists_debezium_plugin(stack):
    classes = [p["class"] for p in connect.plugins(stack)]
    assert "io.debezium.connector.postgresql.PostgresConnector" in classes


def test_up_twice_is_idempotent(stack, runtime):
    before = {s.service: s.pid for s in runtime.status()}
    result = runner.invoke(app, ["up", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["started"] == [] and sorted(data["already_running"]) == sorted(SERVICES)
    assert {s.service: s.pid for s in runtime.status()} == before


def test_taken_port_is_one_clear_error_before_anything_starts(stack, monkeypatch):
    home = tempfile.mkdtemp(prefix="polydemo-clash-")
    monkeypatch.setenv("POLYDEMO_HOME", home)
    monkeypatch.setenv("POLYDEMO_PORT_OFFSET", SPARE_OFFSET)
    settings = Settings.from_env()
    sock = socket.socket()
    sock.bind(("127.0.0.1", settings.ports["redis"]))
    sock.listen(1)
    try:
        with pytest.raises(PortInUseError) as exc:
            LocalRuntime(settings).up()
        assert f"port {settings.ports['redis']} for redis is already in use" in exc.value.message
        assert "POLYDEMO_REDIS_PORT" in exc.value.hint
        result = runner.invoke(app, ["up"])
        assert result.exit_code == 2
        assert f"port {settings.ports['redis']} for redis" in result.stderr and "Traceback" not in result.output
        assert not any((settings.run_dir).glob("*.pid")), "something was started"
    finally:
        sock.close()


def test_doctor_reports_a_missing_jar(stack, monkeypatch):
    monkeypatch.setenv("POLYDEMO_CACHE", tempfile.mkdtemp(prefix="polydemo-emptycache-"))
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 1
    checks = json.loads(result.stdout)
    bad: dict[str, list[dict]] = {}
    for c in checks:
        if not c["ok"]:
            bad.setdefault(c["name"], []).append(c)
    assert any("Kafka jars missing" in c["detail"] for c in bad["kafka: installed"])
    assert all("make setup" in c["fix"] for c in bad["kafka: installed"])
    assert any("Neo4j jars missing" in c["detail"] for c in bad["neo4j: installed"])
    assert any("Debezium PostgreSQL connector plugin missing" in c["detail"] for c in bad["connect: installed"])
    assert "postgres: installed" not in bad  # only what is missing is reported


def test_a_failing_service_is_named_with_its_log_and_the_rest_is_stopped(stack, monkeypatch, tmp_path):
    home = tempfile.mkdtemp(prefix="polydemo-fail-")
    import os

    os.chmod(home, 0o755)
    broken = tmp_path / "redis-server"
    broken.write_text("#!/bin/sh\necho 'FATAL: cannot open the dump file (simulated)'\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("POLYDEMO_HOME", home)
    monkeypatch.setenv("POLYDEMO_PORT_OFFSET", SPARE_OFFSET)
    monkeypatch.setenv("POLYDEMO_REDIS_SERVER", str(broken))
    result = runner.invoke(app, ["up", "postgres", "redis", "--no-pipeline"], env={"COLUMNS": "300"})
    assert result.exit_code == 3, result.output
    assert "redis exited during start-up" in result.stderr
    assert "FATAL: cannot open the dump file (simulated)" in result.stderr  # the log's last lines
    assert "stopped what this run started" in result.stderr
    settings = Settings.from_env()
    assert not any(procs.alive(f) for f in settings.run_dir.glob("*.pid")), "postgres was left running"
