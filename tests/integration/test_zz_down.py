"""Runs last (file order): `down` stops every server and pipeline process and leaves no pid alive."""

from __future__ import annotations

import json

import psutil
from typer.testing import CliRunner

from polydemo import procs
from polydemo.cli import app
from polydemo.pipeline import workers


def test_down_leaves_no_process_behind(stack, runtime):
    pids = [s.pid for s in runtime.status() if s.pid]
    children = [c.pid for p in pids for c in psutil.Process(p).children(recursive=True)]
    pids += [workers.status(stack, n).pid for n in workers.WORKERS if workers.status(stack, n).pid]
    assert len(pids) >= 11  # 7 servers + 4 pipeline processes
    result = CliRunner().invoke(app, ["down", "--json"])
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)["services"]
    assert set(outcome.values()) <= {"stopped", "killed"}
    alive = [p for p in pids + children if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"still alive: {alive}"
    assert not any(procs.alive(f) for f in runtime.settings.run_dir.glob("*.pid"))
