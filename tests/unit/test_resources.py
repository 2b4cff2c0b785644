"""Package data: one copy in the repository, the same bytes in the wheel, one lookup; doctor names what is missing."""

import filecmp
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polydemo import _shipped, doctor, resources
from polydemo.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_build_copy_equals_the_repository_files(tmp_path):
    copied = _shipped.copy_shipped(ROOT, tmp_path)
    assert len(copied) >= 20
    for rel in copied:
        assert filecmp.cmp(ROOT / rel, tmp_path / rel, shallow=False), rel
    # the top-level files the design card names, and every built-in scenario
    for rel in ("docker-compose.yml", "database.sql", "TimeScaleDB.sql", "posts.json"):
        assert rel in copied
    assert {p.name for p in (ROOT / "scenarios").glob("*.yaml")} == {
        Path(r).name for r in copied if r.startswith("scenarios/")
    }


def test_every_resource_the_code_reads_is_shipped(tmp_path):
    shipped = set(_shipped.shipped_files(ROOT))
    for rel in resources.FILES:
        assert rel in shipped, rel
    for rel, glob in resources.DIRS.items():
        assert any(Path(s).parent.as_posix() == rel and Path(s).match(glob) for s in shipped), rel
    # and a packaged tree is found as such, and complete
    _shipped.copy_shipped(ROOT, tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POLYDEMO_RESOURCES", str(tmp_path))
        assert all(f.ok for f in resources.inventory())


def test_compose_relative_mounts_resolve_next_to_the_packaged_compose_file(tmp_path):
    import yaml

    _shipped.copy_shipped(ROOT, tmp_path)
    doc = yaml.safe_load((tmp_path / "docker-compose.yml").read_text())
    mounts = [
        v.split(":")[0]
        for s in doc["services"].values()
        for v in s.get("volumes", [])
        if isinstance(v, str) and v.startswith("./")
    ]
    assert mounts and all((tmp_path / m).is_file() for m in mounts), mounts


def test_nothing_to_ship_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to ship"):
        _shipped.shipped_files(tmp_path)


def test_from_the_checkout_the_repository_files_are_read(monkeypatch):
    monkeypatch.delenv("POLYDEMO_RESOURCES", raising=False)
    r = resources.root()
    assert r.kind == "checkout" and r.path == ROOT
    assert resources.read_text(resources.DATABASE_SQL) == (ROOT / "database.sql").read_text()


def test_missing_resource_names_the_file_and_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYDEMO_RESOURCES", str(tmp_path))
    with pytest.raises(resources.ResourceMissing) as exc:
        resources.read_text(resources.CONNECTOR)
    assert "stack/connect/polydemo-users.json is missing" in exc.value.message
    assert str(tmp_path) in exc.value.message and exc.value.hint


def test_doctor_fails_naming_the_missing_file(tmp_path, monkeypatch):
    _shipped.copy_shipped(ROOT, tmp_path)
    (tmp_path / "database.sql").unlink()
    monkeypatch.setenv("POLYDEMO_RESOURCES", str(tmp_path))
    checks = doctor.resource_checks()
    assert [c.name for c in checks if not c.ok] == ["package data", "data: database.sql"]
    assert str(tmp_path) in checks[0].detail and "missing: database.sql" in checks[0].detail

    result = runner.invoke(app, ["doctor", "--json"], env={"POLYDEMO_RESOURCES": str(tmp_path), "COLUMNS": "300"})
    assert result.exit_code == 1
    bad = [c for c in json.loads(result.stdout) if not c["ok"]]
    assert any(c["name"] == "data: database.sql" and str(tmp_path / "database.sql") in c["detail"] for c in bad)


def test_doctor_with_empty_resources_lists_every_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYDEMO_RESOURCES", str(tmp_path))
    names = {c.name for c in doctor.resource_checks() if not c.ok}
    assert {
        "data: scenarios",
        "data: database.sql",
        "data: TimeScaleDB.sql",
        "data: stack/connect/polydemo-users.json",
    } <= names


def test_doctor_says_where_it_looked_when_all_is_there(monkeypatch):
    monkeypatch.delenv("POLYDEMO_RESOURCES", raising=False)
    (check,) = doctor.resource_checks()
    assert check.ok and f"looked in the source checkout ({ROOT})" in check.detail


def test_homes_follow_platformdirs_outside_a_checkout(monkeypatch, tmp_path):
    from polydemo import config

    monkeypatch.delenv("POLYDEMO_HOME", raising=False)
    monkeypatch.delenv("POLYDEMO_CACHE", raising=False)
    assert config.Settings.from_env().home == ROOT / ".polydemo"
    monkeypatch.setattr(resources, "is_checkout", lambda: False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    s = config.Settings.from_env()
    assert s.home == tmp_path / "data" / "polydemo" and s.cache == tmp_path / "cache" / "polydemo"
    monkeypatch.setenv("POLYDEMO_HOME", str(tmp_path / "mine"))
    assert config.Settings.from_env().home == tmp_path / "mine"
    assert config.Settings.from_env(home=tmp_path / "flag").home == tmp_path / "flag"


def test_manifest_in_ships_the_sources_an_sdist_needs():
    text = (ROOT / "MANIFEST.in").read_text()
    for pattern in _shipped.SHIPPED:
        top = pattern.split("/")[0]
        assert top in text, pattern
