"""Talk mode: `polydemo trace` of a fresh sign-up, hop by hop, and lag as time of a stopped projector."""

from __future__ import annotations

import json
import time
import uuid

from typer.testing import CliRunner

from polydemo.cli import app
from polydemo.domain import users
from polydemo.pipeline import lag, workers
from polydemo.stores.kafka import KafkaAdmin

from .conftest import wait_for


def test_trace_of_a_fresh_signup_has_every_hop_in_order(stack):
    email = f"trace-{uuid.uuid4().hex[:6]}@example.org"
    user = users.signup(stack, email, "Trace Test", "correct horse battery")
    res = CliRunner().invoke(app, ["--home", str(stack.home), "trace", email, "--json", "--wait", "20"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["complete"] and doc["key"] == user.id and doc["op"] == "create"
    hops = {h["name"]: h for h in doc["hops"]}
    print("\n[trace] " + ", ".join(f"{h['name']} {h['ms']} ms" for h in doc["hops"]))
    commit, append = hops["Postgres commit"]["ms"], hops["Kafka append"]["ms"]
    assert commit == 0 and hops["Postgres commit"]["detail"].startswith("lsn ")
    for store, proj in (("Neo4j", "graph"), ("Redis", "cache"), ("time-series", "analytics")):
        consume, visible = hops[f"{proj} consume"]["ms"], hops[f"visible in {store}"]["ms"]
        assert 0 <= commit <= append <= consume <= visible < 30_000, (proj, doc["hops"])
    text = CliRunner().invoke(app, ["--home", str(stack.home), "trace", email])
    assert text.exit_code == 0 and "visible in Neo4j" in text.stdout and "█" in text.stdout
    assert "correct horse" not in res.stdout + text.stdout


def test_a_stopped_projector_lags_in_seconds(stack):
    assert workers.stop(stack, "cache") in ("stopped", "not running")
    try:
        users.signup(stack, f"lagging-{uuid.uuid4().hex[:6]}@example.org", "Lag Test", "correct horse battery")
        with KafkaAdmin(stack) as kafka:

            def lagging():
                parts = lag.projector_partitions(stack, kafka)
                return sum(p.lag for p in parts["cache"]) > 0

            wait_for(lagging, timeout=20, what="cache lag > 0")
            time.sleep(1.2)
            parts = lag.projector_partitions(stack, kafka)
            seconds = lag.projector_lag_seconds(stack, kafka, parts, time.time() * 1000)
        print(f"\n[lag] cache {seconds['cache']} s, graph {seconds['graph']} s")
        assert seconds["cache"] is not None and seconds["cache"] >= 1.0
        res = CliRunner().invoke(app, ["--home", str(stack.home), "projector", "status", "cache", "--json"])
        assert res.exit_code == 0, res.output
        [row] = json.loads(res.stdout)
        assert row["lag"] > 0 and row["lag_seconds"] > 0
    finally:
        workers.start(stack, "cache")
        workers.wait_running(stack, ["cache"])
    with KafkaAdmin(stack) as kafka:
        wait_for(lambda: sum(p.lag for p in lag.projector_partitions(stack, kafka)["cache"]) == 0, timeout=30)
        parts = lag.projector_partitions(stack, kafka)
        assert lag.projector_lag_seconds(stack, kafka, parts, time.time() * 1000)["cache"] == 0.0
