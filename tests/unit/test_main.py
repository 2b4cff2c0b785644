"""``main(args, env)``: the Environment injected, the exit status returned (httpie's seam), no server."""

from __future__ import annotations

import io
import subprocess
import sys

from polydemo.cli import main
from polydemo.console import Environment
from polydemo.errors import ExitStatus


def captured(**kw) -> Environment:
    return Environment(stdout=io.StringIO(), stderr=io.StringIO(), width=300, **kw)


def test_an_error_goes_to_the_injected_stderr_as_one_line_with_its_status():
    env = captured()
    assert main(["scenario", "show", "no-such-scenario"], env) == ExitStatus.USAGE
    err = env.stderr.getvalue()
    assert "error: unknown scenario 'no-such-scenario'" in err
    assert "Traceback" not in err
    assert env.stdout.getvalue() == ""


def test_output_goes_to_the_injected_stdout_and_json_is_json():
    import json

    env = captured()
    assert main(["scenario", "list", "--json"], env) == ExitStatus.OK
    names = [s["name"] for s in json.loads(env.stdout.getvalue())]
    assert "tour" in names


def test_a_usage_error_from_the_parser_is_its_status_too():
    env = captured()
    assert main(["no-such-command"], env) == ExitStatus.USAGE


def test_the_module_entry_point_exits_with_the_status_main_returns():
    # `python -m polydemo` (and the console script, which does sys.exit(main())) must not exit 0 on an error.
    out = subprocess.run(
        [sys.executable, "-m", "polydemo", "scenario", "show", "no-such-scenario"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == ExitStatus.USAGE, out.stderr


def test_web_status_without_a_gateway_says_how_to_start_one(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYDEMO_HOME", str(tmp_path))
    env = captured()
    assert main(["web", "status"], env) == ExitStatus.ERROR
    assert "web gateway: not running; start it with `polydemo web start`" in env.stdout.getvalue()
    env = captured()
    assert main(["web", "status", "--json"], env) == ExitStatus.ERROR
    import json

    s = json.loads(env.stdout.getvalue())
    assert s["running"] is False and s["url"].startswith("http://127.0.0.1:")


def test_web_start_on_a_taken_port_is_one_line(tmp_path, monkeypatch):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        monkeypatch.setenv("POLYDEMO_HOME", str(tmp_path))
        monkeypatch.setenv("POLYDEMO_WEB_PORT", str(port))
        env = captured()
        assert main(["web", "start"], env) == ExitStatus.USAGE
    err = env.stderr.getvalue()
    assert f"error: port {port} for the web gateway is already in use" in err and "POLYDEMO_WEB_PORT" in err
    assert "Traceback" not in err and not (tmp_path / "run" / "web.pid").exists()
