"""Issue 4 on the real stack: every built-in scenario passes its own expectations; a false one fails clearly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polydemo.app import Demo
from polydemo.cli import app
from polydemo.scenario import loader

from .conftest import wait_for
from .test_cluster import CLUSTER_SCENARIOS
from .test_pipeline import counts

runner = CliRunner()
FIXTURES = Path(__file__).parent / "fixtures"
WALL: dict[str, float] = {}


@pytest.mark.parametrize("name", sorted(loader.available()))
def test_builtin_scenario_passes(stack, runtime, name):
    if name in CLUSTER_SCENARIOS:
        pytest.skip(f"{name} needs three Kafka brokers: test_cluster.py runs it on its own cluster stack")
    t0 = time.monotonic()
    result = Demo(stack, runtime).run_scenario(loader.load(name), speed=100)
    WALL[name] = time.monotonic() - t0
    print(f"\n[scenario] {name}: {WALL[name]:.1f}s at --speed 100")
    assert result.passed, [(f.index + 1, f.kind, f.message, f.expected, f.seen) for f in result.failures]
    assert len(result.steps) == len(loader.load(name).scenario.steps)
    # The scenario left the stack reusable: everything it stopped is running again.
    assert all(s.healthy for s in runtime.status())


def test_false_expectation_exits_nonzero_naming_step_expected_and_seen(stack):
    path = FIXTURES / "failing.yaml"
    result = runner.invoke(
        app, ["scenario", "run", str(path), "--no-dashboard", "--speed", "100", "--json"], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["passed"] is False and len(data["steps"]) == 2
    assert f"{path}:4: step 2 (expect) failed: the post should exist" in result.stderr
    assert "expected: posts post=no-such-post = 1" in result.stderr
    assert "seen:     posts post=no-such-post = 0" in result.stderr


def test_reset_then_tour_twice_gives_the_same_counts(stack, runtime):
    result = runner.invoke(app, ["reset", "--yes"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "dropping replication slot polydemo_slot deliberately" in result.stderr
    seeded = counts(stack)
    assert seeded["users"] == seeded["nodes"] == seeded["cached"] == 36
    finals = []
    for _ in range(2):
        r = Demo(stack, runtime).run_scenario(loader.load("tour"), speed=100)
        assert r.passed, [(f.index + 1, f.message, f.expected, f.seen) for f in r.failures]
        finals.append(counts(stack))
    assert finals[0] == finals[1]
    assert finals[0]["users"] == 36 + 1 + 200 + 100


def test_ctrl_c_restarts_what_the_scenario_stopped(stack):
    import os
    import signal
    import subprocess
    import sys

    from polydemo.pipeline import workers

    proc = subprocess.Popen(
        [sys.executable, "-m", "polydemo", "scenario", "run", "kill-consumer", "--no-dashboard"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    wait_for(
        lambda: not workers.status(stack, "cache").running,
        timeout=30,
        interval=0.1,
        what="the scenario's `kill: cache`",
    )
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "what the scenario had stopped was restarted" in out
    assert workers.status(stack, "cache").running
