"""Errors that tell the truth: one line and an ExitStatus by default, the whole traceback with --traceback."""

from __future__ import annotations

from typer.testing import CliRunner

from polydemo.cli import app
from polydemo.errors import ExitStatus, PolydemoError, PortInUseError, ServiceStartError
from polydemo.scenario.loader import ScenarioError

runner = CliRunner()


def test_exit_statuses_are_named_and_stable():
    assert [int(s) for s in ExitStatus] == [0, 1, 2, 3, 4, 5, 70, 130]
    assert PolydemoError.exit_code is ExitStatus.ERROR
    assert PortInUseError.exit_code is ScenarioError.exit_code is ExitStatus.USAGE
    assert ServiceStartError.exit_code is ExitStatus.SERVICE_START


def test_an_error_is_one_line_and_its_exit_status():
    result = runner.invoke(app, ["scenario", "show", "no-such-scenario"], env={"COLUMNS": "300"})
    assert result.exit_code == ExitStatus.USAGE
    assert "error: unknown scenario 'no-such-scenario'" in result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not the ScenarioError escaping


def test_traceback_flag_re_raises_the_error_itself():
    result = runner.invoke(app, ["--traceback", "scenario", "show", "no-such-scenario"])
    assert isinstance(result.exception, ScenarioError)
    assert "unknown scenario 'no-such-scenario'" in str(result.exception)
    assert result.exit_code != ExitStatus.OK


def test_traceback_flag_from_the_environment():
    result = runner.invoke(app, ["scenario", "show", "no-such-scenario"], env={"POLYDEMO_TRACEBACK": "1"})
    assert isinstance(result.exception, ScenarioError)


def test_a_store_client_error_keeps_its_cause_under_traceback(monkeypatch):
    import httpx

    from polydemo.pipeline import connector

    def refused(settings, http=None):
        raise httpx.ConnectError("connection refused")

    monkeypatch.setattr(connector, "status", refused)
    plain = runner.invoke(app, ["connector", "status"], env={"COLUMNS": "300"})
    assert plain.exit_code == ExitStatus.STORE_UNREACHABLE
    assert "cannot reach Kafka Connect: connection refused" in plain.stderr
    loud = runner.invoke(app, ["--traceback", "connector", "status"])
    assert isinstance(loud.exception, httpx.ConnectError)
