"""Presenter keys in --step mode, read from a scripted key stream: next, pause, skip, quit (and restore)."""

from __future__ import annotations

import pytest

from polydemo.config import Settings
from polydemo.scenario.keys import FOOTER, Pacer
from polydemo.scenario.runner import ScenarioRunner, SkipWait

from .test_scenario_runner import Actions, FakeClock, Probe, scenario


class ScriptedKeys:
    """``get(timeout)`` answers from a script: a key, or None (nothing pressed, ``timeout`` passes)."""

    def __init__(self, clock: FakeClock, script: list[str | None]):
        self.clock, self.script = clock, list(script)
        self.reads = 0

    def get(self, timeout: float) -> str | None:
        self.reads += 1
        key = self.script.pop(0) if self.script else None
        if key is None:
            self.clock.now += timeout
        return key


def pacer(script):
    clock = FakeClock()
    return Pacer(ScriptedKeys(clock, script), clock=clock), clock


def test_a_sleep_with_no_key_lasts_its_time():
    p, clock = pacer([])
    p.sleep(0.3)
    assert clock.now - 1000.0 == pytest.approx(0.3)


def test_p_pauses_the_pacing_and_the_paused_time_does_not_count():
    p, clock = pacer([None, "p"] + [None] * 40 + ["p"])
    changes = []
    p.on_change = lambda: changes.append(p.paused)
    p.sleep(0.3)
    real = clock.now - 1000.0
    assert real >= 0.3 + 40 * 0.05 - 1e-9  # held while paused
    assert changes == [True, False]
    assert p.clock() == pytest.approx(clock.now - 40 * 0.05)  # the paused 2 s left out
    assert p.footer() == FOOTER and not p.paused


def test_the_footer_says_when_paused():
    p, _ = pacer(["p", "s"])
    with pytest.raises(SkipWait):
        p.sleep(1)
    p._set_paused(True)
    assert p.footer().startswith("⏸ paused") and FOOTER in p.footer()


def test_s_skips_the_current_wait():
    p, clock = pacer([None, "s"])
    with pytest.raises(SkipWait):
        p.sleep(10)
    assert clock.now - 1000.0 < 0.2


def test_enter_or_space_continues_a_pause_and_other_keys_do_not():
    for key in ("\n", "\r", " "):
        p, _ = pacer([None, "x", key, "never read"])
        p.wait_key("go on?")
        assert p.keys.script == ["never read"]


def test_q_quits_as_ctrl_c_does():
    p, _ = pacer(["q"])
    with pytest.raises(KeyboardInterrupt):
        p.sleep(5)
    p, _ = pacer([None, "q"])
    with pytest.raises(KeyboardInterrupt):
        p.wait_key("go on?")


SCENARIO = (
    "title: t\n"
    "steps:\n"
    '  - say: {text: "hello", hold: 30}\n'
    "  - stop: neo4j\n"
    "  - pause: ready?\n"
    "  - wait_until: {lag: {projector: all, max: -1}, timeout: 60}\n"
    "  - sleep: 30\n"
    "  - start: neo4j\n"
)


def run_with_keys(script):
    clock = FakeClock()
    keys = ScriptedKeys(clock, script)
    p = Pacer(keys, clock=clock)
    actions = Actions()
    runner = ScenarioRunner(
        Settings.from_env(home="/nonexistent-polydemo-home"),
        None,
        scenario(SCENARIO),
        step_mode=True,
        wait_key=p.wait_key,
        clock=p.clock,
        sleep=p.sleep,
        actions=actions,
        probe=Probe(),
    )
    return runner.run(), actions, clock


def test_keys_drive_a_run_next_skip_and_skip_a_wait_until():
    # s skips the 30 s hold, Enter continues the pause, s abandons the wait_until, s skips the sleep
    result, actions, clock = run_with_keys([None, "s", None, "\n", None, "s", "s"])
    assert result.passed, result.failures
    assert [s.message for s in result.steps][3:5] == ["skipped by the presenter", "slept 30.0s"]
    assert result.steps[0].message == "hello"  # a skipped hold: the say itself still happened
    assert clock.now - 1000.0 < 1.0  # none of the 30 s waits was sat through
    assert ("control", "neo4j", "start") in actions.calls


def test_q_quits_the_run_and_restores_what_was_stopped():
    result, actions, _ = run_with_keys(["s", "q"])  # q at the pause prompt, neo4j stopped
    assert result.interrupted and not result.passed
    assert [c for c in actions.calls if c[0] == "control"] == [
        ("control", "neo4j", "stop"),
        ("control", "neo4j", "start"),
    ]
    assert actions.calls[-1] == ("close",)


def test_c_shows_and_hides_the_commands_and_the_footer_says_so():
    p, _ = pacer(["c", None, "c", None, "c", "s"])
    changes = []
    p.on_change = lambda: changes.append(p.commands)
    with pytest.raises(SkipWait):
        p.sleep(10)
    assert changes == [True, False, True] and p.commands
    assert p.footer() == FOOTER + " (shown)"
    assert Pacer(ScriptedKeys(FakeClock(), []), commands=True).commands  # --show-commands starts it on


def test_the_step_lines_print_the_commands_only_while_the_key_says_so():
    import io

    from polydemo.console import Environment
    from polydemo.scenario.present import LinePresenter
    from polydemo.scenario.runner import StepResult

    shown = {"on": False}
    err = io.StringIO()
    lines = LinePresenter(Environment(stderr=err, width=100), show_commands=lambda: shown["on"])
    lines.begin(scenario("title: t\nsteps:\n  - sleep: 1\n  - sleep: 1\n"))
    sql = "postgres: INSERT INTO users (name) VALUES ('Ann')"
    lines.step_done(StepResult(0, "sleep", 2, True, "signed up Ann", 0.1, commands=[sql]))
    assert "INSERT INTO" not in err.getvalue()
    shown["on"] = True
    lines.step_done(StepResult(1, "sleep", 3, True, "signed up Ann", 0.1, commands=[sql]))
    assert err.getvalue().count("INSERT INTO users") == 1
