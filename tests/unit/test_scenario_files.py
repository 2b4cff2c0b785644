"""Scenario validation: every built-in file is valid; each malformed fixture gets one message at the right file:line."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from polydemo.cli import app
from polydemo.scenario import loader
from polydemo.scenario.model import Control, Pause, Say
from polydemo.scenario.runner import describe, estimate_seconds

BAD = Path(__file__).parent / "fixtures" / "bad_scenarios"
runner = CliRunner()

# fixture -> (line, column or None, what the message must say)
CASES = {
    "unknown_kind.yaml": (4, 5, "unknown step kind 'signin' (did you mean 'signup'?)"),
    "missing_field.yaml": (4, 7, "step 1 name: missing field 'name'"),
    "mistyped_field.yaml": (3, 21, "step 1 signups: Input should be a valid integer"),
    "unknown_target.yaml": (4, 5, "unknown store or projector 'neo5j'"),
    "unknown_projector.yaml": (4, 24, "unknown projector 'search'"),
    "yaml_syntax.yaml": (3, 10, "YAML syntax error: while scanning a quoted scalar"),
    "extra_field.yaml": (3, 60, "unexpected field 'loudly'"),
    "two_conditions.yaml": (5, 7, "a condition needs exactly one of"),
    "unknown_metric.yaml": (3, 26, "unknown metric 'tweets'"),
    "no_steps.yaml": (3, 8, "at least 1 item"),
    "not_a_mapping.yaml": (1, 1, "a scenario is a mapping"),
    "bad_read_store.yaml": (3, 33, "Input should be 'postgres', 'redis' or 'neo4j'"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_file_is_rejected_at_file_line(name):
    line, col, text = CASES[name]
    path = BAD / name
    with pytest.raises(loader.ScenarioError) as exc:
        loader.load(str(path))
    assert exc.value.message.startswith(f"{path}:{line}:{col}: "), exc.value.message
    assert text in exc.value.message
    assert exc.value.hint


def test_validate_command_reports_each_file_and_exits_2():
    files = [str(BAD / n) for n in sorted(CASES)]
    result = runner.invoke(app, ["scenario", "validate", *files], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    for n, (line, col, _) in CASES.items():
        assert f"{BAD / n}:{line}:{col}:" in result.stderr, n
    assert "Traceback" not in result.output


def test_every_builtin_scenario_is_valid_and_described():
    names = loader.available()
    assert {
        "tour",
        "signup",
        "follow",
        "post",
        "kill-consumer",
        "consistency",
        "cdc-outage",
        "store-outage",
        "dual-write",
        "load",
    } <= set(names)
    for name in names:
        loaded = loader.load(name)
        assert loaded.scenario.title and len(loaded.step_lines) == len(loaded.scenario.steps)
        assert all(describe(s) for s in loaded.scenario.steps)
        assert estimate_seconds(loaded) > 0


def test_unknown_scenario_name_lists_the_available_ones():
    with pytest.raises(loader.ScenarioError) as exc:
        loader.load("tuor")
    assert "unknown scenario 'tuor'" in exc.value.message and "did you mean 'tour'" in exc.value.message
    assert "cdc-outage" in exc.value.hint and "tour" in exc.value.hint
    result = runner.invoke(app, ["scenario", "run", "nope", "--no-dashboard"], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "available:" in result.stderr


def test_short_forms():
    loaded = loader.parse(
        'title: t\nsteps:\n  - say: "hi"\n    hold: 3\n  - pause: graph\n'
        '  - pause: "press a key"\n  - stop: connector\n',
        Path("inline.yaml"),
    )
    s = loaded.scenario.steps
    assert isinstance(s[0], Say) and s[0].hold == 3
    assert isinstance(s[1], Control) and s[1].kind == "pause" and s[1].target == "graph"
    assert isinstance(s[2], Pause) and s[2].prompt == "press a key"
    assert isinstance(s[3], Control) and s[3].target == "connector"
    assert loaded.step_lines == [3, 5, 6, 7]
