"""Runtime choice (polydemo/runtime/choice.py): pure rules, the engine probe passed in."""

from __future__ import annotations

import pytest

from polydemo.runtime.choice import choose, has_local_data, read_remembered, remember


def engine(answer: bool):
    calls = []

    def probe() -> bool:
        calls.append(1)
        return answer

    probe.calls = calls
    return probe


@pytest.mark.parametrize("requested", ["local", "docker"])
def test_explicit_runtime_wins_and_never_probes_the_engine(requested):
    probe = engine(requested == "local")  # the opposite of what was asked, to be sure it is ignored
    c = choose(requested, remembered=None, has_local_data=True, engine_answers=probe)
    assert c.name == requested and "asked for" in c.reason
    assert probe.calls == []


def test_explicit_runtime_that_differs_from_the_home_says_so():
    c = choose("docker", remembered="local", has_local_data=True, engine_answers=engine(True))
    assert c.name == "docker" and c.switches
    assert "created with the local runtime" in c.reason


def test_auto_keeps_the_runtime_the_home_was_created_with_even_when_an_engine_answers_now():
    probe = engine(True)
    c = choose("auto", remembered="local", has_local_data=False, engine_answers=probe)
    assert c.name == "local" and not c.switches
    assert "created with the local runtime" in c.reason
    assert probe.calls == []


def test_auto_keeps_docker_for_a_docker_home_even_when_the_engine_is_down():
    # Switching to local silently would show an empty stack; the engine error says what to do instead.
    c = choose("auto", remembered="docker", has_local_data=False, engine_answers=engine(False))
    assert c.name == "docker" and "--runtime local" in c.reason


def test_auto_on_a_home_with_local_data_from_before_the_record_stays_local():
    probe = engine(True)
    c = choose("auto", remembered=None, has_local_data=True, engine_answers=probe)
    assert c.name == "local" and "local-runtime data" in c.reason
    assert probe.calls == []


@pytest.mark.parametrize("answers,expected", [(True, "docker"), (False, "local")])
def test_auto_on_a_fresh_home_asks_the_engine_once(answers, expected):
    probe = engine(answers)
    c = choose("auto", remembered=None, has_local_data=False, engine_answers=probe, engine_where="unix:///x.sock")
    assert c.name == expected and c.reason.startswith("auto:")
    assert probe.calls == [1]
    if expected == "docker":
        assert "unix:///x.sock" in c.reason


def test_remember_writes_once_and_never_overwrites(tmp_path):
    home = tmp_path / "home"
    assert read_remembered(home) is None
    assert remember(home, "docker") is True
    assert read_remembered(home) == "docker"
    assert remember(home, "local") is False  # a later `up` with --runtime local does not rewrite history
    assert read_remembered(home) == "docker"


def test_remember_refuses_auto_and_unknown_names(tmp_path):
    assert remember(tmp_path, "auto") is False
    assert not (tmp_path / "runtime").exists()
    (tmp_path / "runtime").write_text("podman\n")
    assert read_remembered(tmp_path) is None


def test_has_local_data_needs_a_server_data_directory(tmp_path):
    assert not has_local_data(tmp_path)
    (tmp_path / "data").mkdir()
    assert not has_local_data(tmp_path)  # an empty data/ is not a used home
    (tmp_path / "data" / "postgres").mkdir()
    assert has_local_data(tmp_path)
