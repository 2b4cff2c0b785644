"""Every command and sub-command has help text (a command without help fails this test)."""

import typer
from typer.testing import CliRunner

from polydemo.cli import app

runner = CliRunner()


def _walk(group, path=()):
    cmd = typer.main.get_command(app) if group is None else group
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _walk(sub, (*path, name))


def test_every_command_has_help():
    missing = []
    seen = 0
    for path, cmd in _walk(None):
        if not path:
            continue
        seen += 1
        if not (cmd.help or "").strip():
            missing.append(" ".join(path))
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
    assert seen >= 15
    assert missing == []


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and "polydemo" in result.output
