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


# --- Example: lines (polydemo/cli/examples.py) -------------------------------------------------------------


def _commands():
    """Every command and group by its full path ("" is polydemo itself)."""
    return {" ".join(path): cmd for path, cmd in _walk(None)}


def _docstring_example(cmd) -> bool:
    return "Example:" in (cmd.help or "")


def test_every_command_shows_an_example():
    """Each command's --help ends with an Example (from examples.py, or its own docstring), as rendered."""
    missing = []
    for path in _commands():
        result = runner.invoke(app, [*path.split(), "--help"], terminal_width=100)
        assert result.exit_code == 0, (path, result.output)
        if "Example:" not in result.output and "Examples:" not in result.output:
            missing.append(path or "polydemo")
    assert missing == []


def test_the_examples_table_covers_every_command_once():
    """examples.py names every command that has no example of its own, and only those that exist."""
    from polydemo.cli.examples import EXAMPLES

    commands = _commands()
    assert sorted(set(EXAMPLES) - set(commands)) == []  # a path that is not a command
    own = {path for path, cmd in commands.items() if _docstring_example(cmd)}
    assert sorted(own & set(EXAMPLES)) == []  # would show two examples
    assert sorted(set(commands) - own - set(EXAMPLES)) == []  # no example at all
    assert all(EXAMPLES.values())


def _resolve(tokens):
    """The command an example line invokes, its path and the arguments left for it (click's own parser)."""
    cmd = typer.main.get_command(app)
    path = []
    while tokens and hasattr(cmd, "commands") and tokens[0] in cmd.commands:
        cmd = cmd.commands[tokens[0]]
        path.append(tokens.pop(0))
    return cmd, " ".join(path), tokens


def test_every_example_is_a_valid_invocation():
    """Each example starts with `polydemo <its command's path>` and its arguments and options parse."""
    import shlex

    from polydemo.cli.examples import EXAMPLES

    assert len(EXAMPLES) >= 30
    for key, lines in EXAMPLES.items():
        for line in lines:
            tokens = shlex.split(line, comments=True)
            assert tokens[0] == "polydemo", line
            assert tokens[1 : 1 + len(key.split())] == key.split(), (key, line)
            assert len(line) <= 95, f"{line!r} wraps in a 100-column terminal"
            cmd, path, rest = _resolve(tokens[1:])
            assert path.split()[: len(key.split())] == key.split(), (key, line)  # that command, or one of its group
            assert not hasattr(cmd, "commands"), f"{line!r} names a group, not a command"
            try:
                cmd.make_context(f"polydemo {path}", rest, obj=None)
            except typer.TyperException as exc:  # click's UsageError and BadParameter (Typer vendors click)
                raise AssertionError(f"{line!r}: {exc}") from exc


def test_an_invalid_example_is_caught():
    """The parse check above can fail: a wrong option and a missing argument are both refused."""
    import pytest

    for line in ("projector scale graph --instances 3", "projector start", "watch --refresh 99"):
        cmd, path, rest = _resolve(line.split())
        with pytest.raises(typer.TyperException):
            cmd.make_context(path, rest)


def test_apply_sets_the_epilog_by_path():
    """examples.apply reaches commands and nested groups by their full path, and leaves the others alone."""
    from polydemo.cli import examples

    sub = typer.Typer()
    sub.command("run")(lambda: None)
    sub.command("list")(lambda: None)
    top = typer.Typer()
    top.command("up")(lambda: None)
    top.add_typer(sub, name="scenario")
    examples.apply(top, {"up": ("polydemo up",), "scenario": ("a", "b"), "scenario run": ("polydemo scenario run x",)})
    assert "Example:" in top.registered_commands[0].epilog and "polydemo up" in top.registered_commands[0].epilog
    assert "Examples:" in top.registered_groups[0].epilog
    run, listing = sub.registered_commands
    assert "scenario run x" in run.epilog and listing.epilog is None
    assert "\\[" in examples.epilog(("polydemo x [y]",))  # markup in an example is shown, not parsed
