"""The Typer application. Commands are thin: parse, call the library, print."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer

from polydemo import __version__
from polydemo.cli import data, examples, pipeline, scenario, setup, stack, watch, web
from polydemo.cli.context import AppState
from polydemo.console import Environment
from polydemo.errors import ExitStatus

app = typer.Typer(
    name="polydemo",
    help="A real polyglot-persistence stack with Debezium CDC, scripted scenarios and a live dashboard.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"polydemo {__version__}")
        raise typer.Exit(ExitStatus.OK)


@app.callback()
def root(
    ctx: typer.Context,
    home: Path | None = typer.Option(
        None,
        "--home",
        envvar="POLYDEMO_HOME",
        help="Run directory (data, logs, pids). Default: .polydemo/ in a checkout, else the user data "
        "directory (~/.local/share/polydemo).",
    ),
    runtime: str | None = typer.Option(
        None,
        "--runtime",
        envvar="POLYDEMO_RUNTIME",
        help="auto (docker if an engine answers, else local), local or docker.",
    ),
    traceback: bool = typer.Option(
        False,
        "--traceback",
        envvar="POLYDEMO_TRACEBACK",
        help="On an error, show the full traceback instead of the one-line message.",
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """polydemo: bring up the stack, seed it, run scenarios, watch data flow."""
    if ctx.obj is None:
        ctx.obj = AppState()
    ctx.obj.home = home
    ctx.obj.runtime_name = runtime
    ctx.obj.traceback = traceback


stack.register(app)
data.register(app)
pipeline.register(app)
watch.register(app)
scenario.register(app)
setup.register(app)
web.register(app)
examples.apply(app)  # an Example: under every command's help (polydemo/cli/examples.py)


def main(args: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """Run one command and return its exit status (httpie's ``main(args, env)``).

    ``args`` default to ``sys.argv[1:]``; ``env`` (the consoles, width, --json) to the real terminal. Tests
    pass both, and read what the command printed from ``env.stdout``/``env.stderr``.
    """
    state = AppState(env=env) if env is not None else AppState()
    try:
        app(args=list(args) if args is not None else None, obj=state, prog_name="polydemo")
    except SystemExit as exc:  # click's standalone mode ends every command with one
        code = exc.code
        return code if isinstance(code, int) else (ExitStatus.OK if code is None else ExitStatus.ERROR)
    return ExitStatus.OK
