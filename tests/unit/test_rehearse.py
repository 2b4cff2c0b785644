"""`polydemo rehearse` without servers: the doctor, reset and scenario steps are stand-ins."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from polydemo import rehearse as rh
from polydemo.errors import ExitStatus, PolydemoError


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.5  # every reading moves time on, so each step takes a measurable while
        return self.now


class Steps:
    def __init__(self, doctor_ok=True, reset_fails_at: int | None = None, failing=(), raising=()):
        self.calls: list[str] = []
        self.doctor_ok, self.reset_fails_at = doctor_ok, reset_fails_at
        self.failing, self.raising = set(failing), set(raising)
        self.resets = 0

    def doctor(self):
        self.calls.append("doctor")
        return rh.Outcome(self.doctor_ok, "ok" if self.doctor_ok else "java: not found")

    def reset(self):
        self.calls.append("reset")
        self.resets += 1
        if self.reset_fails_at == self.resets:
            raise PolydemoError("the projectors did not catch up after the reset")
        return rh.Outcome(True, "36 users")

    def run(self, name):
        self.calls.append(name)
        if name in self.raising:
            raise RuntimeError("boom")
        return rh.Outcome(
            name not in self.failing, "step 3 (expect): lag 5, expected 0" if name in self.failing else ""
        )

    def go(self, names):
        return rh.rehearse(names, self.doctor, self.reset, self.run, clock=Clock())


def test_doctor_then_reset_then_each_scenario_then_reset_again():
    s = Steps()
    result = s.go(["signup", "follow"])
    assert s.calls == ["doctor", "reset", "signup", "follow", "reset"]
    assert [(r.name, r.kind, r.status) for r in result.rows] == [
        ("doctor", "doctor", "passed"),
        ("reset", "reset", "passed"),
        ("signup", "scenario", "passed"),
        ("follow", "scenario", "passed"),
        ("reset", "reset", "passed"),
    ]
    assert result.passed and result.exit_status == ExitStatus.OK
    assert all(r.seconds > 0 for r in result.rows) and result.seconds > sum(r.seconds for r in result.rows) - 1e-9


def test_a_failed_scenario_fails_the_rehearsal_but_the_rest_and_the_final_reset_still_run():
    s = Steps(failing={"follow"}, raising={"post"})
    result = s.go(["signup", "follow", "post", "tour"])
    assert s.calls == ["doctor", "reset", "signup", "follow", "post", "tour", "reset"]
    assert [r.status for r in result.rows] == ["passed", "passed", "passed", "FAILED", "FAILED", "passed", "passed"]
    assert not result.passed and result.exit_status == ExitStatus.ERROR
    assert [r.name for r in result.failures] == ["follow", "post"]
    assert result.failures[1].detail == "RuntimeError: boom"


def test_a_failed_doctor_resets_nothing_and_plays_nothing():
    s = Steps(doctor_ok=False)
    result = s.go(["signup"])
    assert s.calls == ["doctor"]
    assert [r.status for r in result.rows] == ["FAILED", "skipped", "skipped", "skipped"]
    assert result.exit_status == ExitStatus.ERROR


def test_a_failed_first_reset_skips_the_scenarios():
    s = Steps(reset_fails_at=1)
    result = s.go(["signup"])
    assert s.calls == ["doctor", "reset"]
    assert result.rows[1].detail == "the projectors did not catch up after the reset"
    assert [r.status for r in result.rows] == ["passed", "FAILED", "skipped", "skipped"]


def test_a_failed_final_reset_fails_the_rehearsal():
    s = Steps(reset_fails_at=2)
    result = s.go(["signup"])
    assert result.rows[-1].status == "FAILED" and result.exit_status == ExitStatus.ERROR


def test_the_json_shape():
    result = Steps(failing={"follow"}).go(["signup", "follow"])
    doc = json.loads(json.dumps(result.as_dict()))
    assert set(doc) == {"passed", "seconds", "steps", "scenarios", "scenarios_passed"}
    assert doc["passed"] is False and doc["scenarios"] == 2 and doc["scenarios_passed"] == 1
    assert doc["steps"][3] == {
        "name": "follow",
        "kind": "scenario",
        "status": "FAILED",
        "seconds": 0.5,
        "detail": "step 3 (expect): lag 5, expected 0",
    }


def test_the_default_plan_is_every_built_in_with_the_tour_last():
    builtins = ["cdc-outage", "tour", "signup", "follow", "post", "load", "extra"]
    got = rh.plan([], builtins)
    assert got[-1] == "tour" and sorted(got) == sorted(builtins)
    assert got[:3] == ["signup", "follow", "post"]
    assert rh.plan(["tour", "signup"], builtins) == ["tour", "signup"]  # as given


def test_the_cli_refuses_an_unknown_scenario_before_resetting_anything(tmp_path, monkeypatch):
    from polydemo.cli import app

    called = []
    monkeypatch.setattr(rh, "rehearse", lambda *a, **k: called.append(a))
    out = CliRunner().invoke(app, ["--home", str(tmp_path), "rehearse", "no-such-scenario"])
    assert out.exit_code == ExitStatus.USAGE, out.output
    assert not called


def test_the_cli_prints_the_table_and_exits_1_on_a_failure(tmp_path, monkeypatch):
    from polydemo.cli import app

    real = rh.rehearse

    def fake(scenarios, doctor, reset, run, on_row=lambda r: None, clock=None):
        s = Steps(failing={"follow"})
        return real(scenarios, s.doctor, s.reset, s.run, on_row=on_row, clock=Clock())

    monkeypatch.setattr(rh, "rehearse", fake)
    out = CliRunner().invoke(app, ["--home", str(tmp_path), "rehearse", "signup", "follow", "--json"])
    assert out.exit_code == ExitStatus.ERROR
    doc = json.loads(out.stdout)
    assert [s["name"] for s in doc["steps"]] == ["doctor", "reset", "signup", "follow", "reset"]
    assert "rehearsal failed: 1 step(s); first: follow" in out.stderr
    table = CliRunner().invoke(app, ["--home", str(tmp_path), "rehearse", "signup", "follow"], env={"COLUMNS": "200"})
    assert table.exit_code == ExitStatus.ERROR
    assert "FAILED" in table.stdout and "total" in table.stdout and "1/2 scenarios" in table.stdout
