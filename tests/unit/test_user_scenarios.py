"""The user's own scenarios (./scenarios, --scenarios DIR) beside the built-ins; a clash is reported, not silent."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polydemo.cli import app
from polydemo.scenario import loader

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
MINE = 'title: "{title}"\nsteps:\n  - say: "hi"\n'


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """An empty working directory outside the checkout."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def write(d: Path, name: str, title: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.yaml").write_text(MINE.format(title=title))
    return d / f"{name}.yaml"


def test_builtins_are_found_from_any_directory(elsewhere):
    names = loader.available()
    assert len(names) == len(list((ROOT / "scenarios").glob("*.yaml"))) == 16
    assert names["tour"] == ROOT / "scenarios" / "tour.yaml"


def test_the_checkouts_own_scenarios_dir_is_not_a_user_dir(monkeypatch):
    monkeypatch.chdir(ROOT)
    entries = loader.catalogue()
    assert all(e.source == loader.BUILTIN and e.effective for e in entries)


def test_cwd_scenarios_and_dir_option_are_listed(elsewhere, tmp_path):
    write(elsewhere / "scenarios", "mine", "Mine")
    write(tmp_path / "more", "other", "Other")
    names = loader.available([tmp_path / "more"])
    assert names["mine"] == Path("scenarios/mine.yaml") and names["other"] == tmp_path / "more" / "other.yaml"
    result = runner.invoke(app, ["scenario", "list", "--json", "--scenarios", str(tmp_path / "more")])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["mine"]["source"] == "scenarios" and rows["other"]["title"] == "Other" and "tour" in rows


def test_a_user_file_with_a_builtin_name_is_reported(elsewhere):
    write(elsewhere / "scenarios", "tour", "My tour")
    warnings = []
    path = loader.resolve("tour", warn=warnings.append)
    assert path == Path("scenarios/tour.yaml")
    assert len(warnings) == 1 and "takes precedence over the built-in 'tour'" in warnings[0]
    assert "builtin:tour" in warnings[0]
    assert loader.resolve("builtin:tour") == ROOT / "scenarios" / "tour.yaml"
    assert loader.load("builtin:tour").name == "tour"

    result = runner.invoke(app, ["scenario", "list", "--json"], env={"COLUMNS": "300"})
    rows = [r for r in json.loads(result.stdout) if r["name"] == "tour"]
    assert [r["source"] for r in rows] == ["scenarios", "built-in"]
    assert rows[1]["shadowed_by"] == "scenarios/tour.yaml"
    assert "takes precedence over built-in 'tour'" in result.stderr

    shown = runner.invoke(app, ["scenario", "show", "tour"], env={"COLUMNS": "300"})
    assert shown.exit_code == 0 and "My tour" in shown.stdout and "takes precedence" in shown.stderr


def test_a_broken_user_file_is_listed_not_fatal(elsewhere):
    (elsewhere / "scenarios").mkdir()
    (elsewhere / "scenarios" / "broken.yaml").write_text("title: [unclosed\n")
    result = runner.invoke(app, ["scenario", "list", "--json"])
    assert result.exit_code == 0
    row = next(r for r in json.loads(result.stdout) if r["name"] == "broken")
    assert "YAML syntax error" in row["error"]


def test_missing_dir_is_one_clear_message(elsewhere):
    result = runner.invoke(app, ["scenario", "list", "--scenarios", "nowhere"], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "--scenarios nowhere: no such directory" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_builtin_is_one_clear_message(elsewhere):
    with pytest.raises(loader.ScenarioError, match="no built-in scenario 'nope'"):
        loader.resolve("builtin:nope")


def test_validate_accepts_names(elsewhere):
    result = runner.invoke(app, ["scenario", "validate", "tour", "signup"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert result.stdout.count("ok ") == 2


def test_shell_completion_offers_scenario_names(elsewhere):
    import subprocess
    import sys

    import polydemo

    env = {
        "_POLYDEMO_COMPLETE": "complete_bash",
        "COMP_WORDS": "polydemo scenario run to",
        "COMP_CWORD": "3",
        "PATH": "/usr/bin:/bin",
        # The package this suite imports, installed or not (scripts/check-pythons.sh runs from the checkout).
        "PYTHONPATH": str(Path(polydemo.__file__).resolve().parents[1]),
    }
    out = subprocess.run(
        [sys.executable, "-c", "from polydemo.cli import main; import sys; sys.argv[0]='polydemo'; main()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "tour" in out.stdout.split(), (out.stdout, out.stderr)
