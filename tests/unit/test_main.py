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
