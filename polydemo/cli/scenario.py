"""Scenario commands: list, show, validate, run; and `reset`."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from polydemo.cli.context import command, demo, state, with_json
from polydemo.console import Environment, safe, safe_text, visible
from polydemo.errors import ExitStatus, PolydemoError

log = logging.getLogger(__name__)

CAST_WIDTH, CAST_HEIGHT = 100, 31  # the dashboard's 100x30 frame and a footer line

JSON_OPT = typer.Option(False, "--json", help="Machine-readable output on stdout.")


def _complete_name(incomplete: str) -> list[str]:
    """Shell completion of scenario names (built-in and ./scenarios)."""
    from polydemo.scenario import loader

    try:
        return [n for n in loader.available() if n.startswith(incomplete)]
    except Exception:  # broad: completion must never print a traceback into the shell
        log.debug("completing scenario names", exc_info=True)
        return []


DIRS_OPT = typer.Option(
    None,
    "--scenarios",
    envvar="POLYDEMO_SCENARIOS",
    metavar="DIR",
    help="Also look for scenarios in DIR (besides ./scenarios and the built-ins). Repeatable; earlier wins.",
)


def _warn(st):
    return lambda message: st.env.info(f"[warn]note:[/warn] {message}")


def register(app: typer.Typer) -> None:
    sc = typer.Typer(
        help="Scripted, narrated, verified walkthroughs (YAML files: the built-ins, ./scenarios, --scenarios DIR).",
        no_args_is_help=True,
    )
    for name, fn in (("list", s_list), ("show", s_show), ("validate", s_validate), ("run", s_run)):
        command(sc, name)(fn)
    app.add_typer(sc, name="scenario")
    command(app, "reset")(reset)
    command(app, "rehearse")(rehearse)


def s_list(ctx: typer.Context, json_out: bool = JSON_OPT, dirs: list[Path] | None = DIRS_OPT) -> None:
    """Scenarios: the built-ins and your own (./scenarios, --scenarios DIR): name, title, source, duration."""
    from polydemo.scenario import loader
    from polydemo.scenario.runner import estimate_seconds

    st = with_json(ctx, json_out)
    rows: list[dict[str, Any]] = []
    for entry in loader.catalogue(dirs or ()):
        row: dict[str, Any] = {
            "name": entry.name,
            "source": entry.source,
            "path": str(entry.path),
            "shadowed_by": str(entry.shadowed_by) if entry.shadowed_by else None,
        }
        try:
            loaded = loader.parse(entry.path.read_text(), entry.path)
            row.update(
                title=loaded.scenario.title,
                steps=len(loaded.scenario.steps),
                estimated_seconds=round(estimate_seconds(loaded)),
                error=None,
            )
        except PolydemoError as exc:  # a user's broken file is listed, not fatal
            row.update(title="", steps=0, estimated_seconds=0, error=exc.message)
        rows.append(row)
    if st.env.json:
        st.env.emit_json(rows)
    else:
        table = Table(title="scenarios", title_style="bold")
        for col in ("name", "title", "source", "steps", "≈ duration"):
            table.add_column(col, justify="right" if col in ("steps", "≈ duration") else "left")
        for r in rows:
            title = (
                safe_text(r["title"])
                if not r["error"]
                else Text.assemble(("invalid", "bad"), f": {visible(r['error'])}")
            )
            source = Text(r["source"])
            if r["shadowed_by"]:
                source.append(f" (hidden by {visible(r['shadowed_by'])})", style="warn")
            table.add_row(
                safe_text(r["name"], style="dim" if r["shadowed_by"] else ""),
                title,
                source,
                str(r["steps"]),
                f"{r['estimated_seconds']}s",
            )
        st.env.out.print(table)
    for r in rows:
        if r["shadowed_by"]:
            hint = f" (`builtin:{safe(r['name'])}` runs it)" if r["source"] == loader.BUILTIN else ""
            st.env.info(
                f"[warn]note:[/warn] {safe(r['shadowed_by'])} takes precedence over {r['source']} "
                f"{safe(repr(r['name']))}{hint}"
            )


def s_show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A scenario name or a YAML file.", autocompletion=_complete_name),
    dirs: list[Path] | None = DIRS_OPT,
) -> None:
    """The steps of a scenario, readable."""
    from polydemo.scenario import loader
    from polydemo.scenario.runner import describe, estimate_seconds

    st = state(ctx)
    loaded = loader.load(name, dirs or (), warn=_warn(st))
    st.env.out.print(
        f"[bold]{safe(loaded.scenario.title)}[/bold]  ({safe(loaded.path)}, ≈{estimate_seconds(loaded):.0f}s)"
    )
    if loaded.scenario.description:
        st.env.out.print(visible(loaded.scenario.description.strip()), style="dim", markup=False)
    for i, step in enumerate(loaded.scenario.steps):
        st.env.out.print(f"{i + 1:>3}. [svc]{step.kind:<10}[/svc] {safe(describe(step))}", markup=True, highlight=False)


def s_validate(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(
        ..., help="Scenario YAML files (or scenario names).", autocompletion=_complete_name
    ),
    dirs: list[Path] | None = DIRS_OPT,
) -> None:
    """Check scenario files against the schema; each problem is reported as file:line:column."""
    from polydemo.scenario import loader

    st = state(ctx)
    bad = 0
    for f in files:
        try:
            loaded = loader.load(str(f), dirs or (), warn=_warn(st))
            st.env.out.print(f"[ok]ok[/ok] {safe(f)} ({len(loaded.scenario.steps)} steps)")
        except PolydemoError as exc:
            bad += 1
            st.env.error(exc.message, hint=exc.hint)
    if bad:
        raise typer.Exit(ExitStatus.USAGE)


def s_run(
    ctx: typer.Context,
    name: str = typer.Argument(
        ..., help="A scenario name (see `scenario list`) or a YAML file.", autocompletion=_complete_name
    ),
    step: bool = typer.Option(False, "--step", help="Wait for Enter at each `pause` step (for presenters)."),
    speed: float = typer.Option(1.0, "--speed", help="Pacing: 1 = real time, 10 = ten times faster, 100 ≈ no pauses."),
    dashboard: bool = typer.Option(True, "--dashboard/--no-dashboard", help="Show the live dashboard (on a TTY)."),
    record: Path | None = typer.Option(
        None, "--record", help="Record the run as an asciicast (.cast), or save the final frame (.svg, .html)."
    ),
    show_commands: bool = typer.Option(
        False,
        "--show-commands",
        help="Under each step, the statements it ran: the SQL, the projectors' Cypher and Redis commands, "
        "the Kafka offset (never a password or its hash).",
    ),
    json_out: bool = JSON_OPT,
    dirs: list[Path] | None = DIRS_OPT,
) -> None:
    """Play a scenario against the running stack: narrate, act, check. Exit status 1 if an expectation fails."""
    from polydemo.scenario import loader

    st = with_json(ctx, json_out)
    if record is not None and record.suffix.lower() not in (".svg", ".html", ".cast"):
        raise PolydemoError(
            f"cannot record to {record}", hint="use a .cast file (the whole run) or .svg/.html (the final frame)"
        )
    loaded = loader.load(name, dirs or (), warn=_warn(st))
    app = demo(ctx)
    runtime_name = app.runtime.name
    live = dashboard and st.env.out.is_terminal and not json_out
    with contextlib.ExitStack() as stack:
        cast = _open_cast(stack, record, loaded) if record is not None and record.suffix.lower() == ".cast" else None
        presenter, pacing = _presentation(stack, st, runtime_name, live, cast, step, show_commands)
        # With the presenter keys, the statements are collected all along, so `c` can show them at any step.
        collect = show_commands or bool(pacing)
        stack.enter_context(showing_commands(st.settings, collect))
        result = app.run_scenario(loaded, presenter, speed=speed, step_mode=step, show_commands=collect, **pacing)
    if cast is not None:
        st.env.info(f"run recorded to {safe(record)} ({cast.events} events, {cast.markers} markers)")
    elif record is not None:
        save_final_frame(st.settings, runtime_name, result, record)
        st.env.info(f"final frame saved to {safe(record)}")
    if st.env.json:
        st.env.emit_json(result.as_dict())
    _exit_on_failure(st, loaded, result)


def _open_cast(stack: contextlib.ExitStack, record: Path, loaded):
    """The asciicast writer for ``--record FILE.cast`` (closed with the run)."""
    from polydemo.dashboard.cast import CastWriter

    out = stack.enter_context(record.open("w", encoding="utf-8"))
    cast = CastWriter(out, CAST_WIDTH, CAST_HEIGHT, title=f"polydemo: {visible(loaded.scenario.title)}")
    stack.callback(cast.close)
    return cast


def _presentation(stack: contextlib.ExitStack, st, runtime_name: str, live: bool, cast, step: bool, show_commands):
    """The presenter, and with --step on a TTY the presenter keys' pacing (wait_key, sleep, clock) for the runner."""
    pacer = None
    if step and sys.stdin.isatty():
        from polydemo.scenario.keys import Pacer, TtyKeys

        pacer = Pacer(stack.enter_context(TtyKeys(sys.stdin)), commands=show_commands)
    presenter = make_presenter(
        st.env,
        runtime_name,
        st.settings,
        live,
        cast=cast,
        footer=pacer.footer if pacer else None,
        show_commands=(lambda: pacer.commands) if pacer else None,
    )
    if pacer is None:
        return presenter, {}
    pacer.on_change = getattr(presenter, "refresh", None) or (lambda: st.env.info(f"[dim]{pacer.footer()}[/dim]"))
    if not hasattr(presenter, "refresh"):
        st.env.info(f"[dim]{pacer.footer()}[/dim]")
    return presenter, {"wait_key": pacer.wait_key, "sleep": pacer.sleep, "clock": pacer.clock}


def _exit_on_failure(st, loaded, result) -> None:
    """An interrupted or failed run: what happened (the failed step, expected and seen) and its exit status."""
    if result.interrupted:
        st.env.error("interrupted; what the scenario had stopped was restarted")
        raise typer.Exit(ExitStatus.INTERRUPTED)
    if not result.passed:
        f = result.failures[-1] if result.failures else None
        if f is not None:
            st.env.error(
                f"{loaded.path}:{f.line}: step {f.index + 1} ({f.kind}) failed: {f.message}",
                details="\n".join(
                    x
                    for x in (f"expected: {f.expected}" if f.expected else "", f"seen:     {f.seen}" if f.seen else "")
                    if x
                )
                or None,
            )
        raise typer.Exit(ExitStatus.ERROR)


@contextlib.contextmanager
def showing_commands(settings, on: bool) -> Iterator[None]:
    """While on, the projectors save what they run (``run/show-commands``); removed after, if we made it."""
    from polydemo.pipeline.loop import show_commands_file

    flag = show_commands_file(settings)
    made = on and not flag.exists()
    if made:
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.write_text("scenario run --show-commands\n")
    try:
        yield
    finally:
        if made:
            flag.unlink(missing_ok=True)


def make_presenter(
    env: Environment, runtime_name: str, settings, live: bool, cast=None, footer=None, show_commands=None
):
    """The dashboard on a TTY; one line per step otherwise (with the frames drawn into ``cast``, if any).
    ``show_commands``: whether the scenario panel shows the statements now (the presenter's `c` key)."""
    from polydemo.scenario.present import DashboardPresenter, LinePresenter

    if live or cast is not None:
        try:
            return DashboardPresenter(
                env, settings, runtime_name, screen=live, cast=cast, footer=footer, show_commands=show_commands
            )
        except ImportError:  # the live dashboard cannot be drawn here: one line per step instead, as asked for
            log.debug("no live dashboard; one line per step", exc_info=True)
    return LinePresenter(env, show_commands)


def save_final_frame(settings, runtime_name: str, result, path: Path) -> None:
    from polydemo.scenario.present import record_frame

    record_frame(settings, runtime_name, result, path)


def reset(
    ctx: typer.Context, yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")
) -> None:
    """Return every store, topic and consumer group to the seeded state (drops and recreates the CDC slot)."""
    st = state(ctx)
    if not yes and st.env.err.is_terminal:
        typer.confirm("reset every store, topic and consumer group to the seeded sample?", abort=True)
    result = demo(ctx).reset(say=lambda m: st.env.info(f"[dim]reset:[/dim] {m}"))
    st.env.info(
        f"[ok]reset done[/ok]: {result.users_added} users, {result.follows_added} follows, "
        f"{result.posts_added} posts seeded; projections caught up"
    )


def rehearse(
    ctx: typer.Context,
    names: list[str] | None = typer.Argument(
        None, help="The scenarios the talk uses (default: every built-in, tour last).", autocompletion=_complete_name
    ),
    json_out: bool = JSON_OPT,
    dirs: list[Path] | None = DIRS_OPT,
) -> None:
    """The hotel-room check: doctor, reset, each scenario at --speed 100, reset again; exit status 1 on a failure."""
    st = with_json(ctx, json_out)
    app = demo(ctx)
    scenarios = app.rehearsal_plan(names or [], dirs or (), warn=_warn(st))

    def log_step(message: str) -> None:
        st.env.info(f"[dim]{safe(message)}[/dim]")

    def on_row(row) -> None:
        mark = {"passed": "[ok]✔[/ok]", "FAILED": "[bad]✘[/bad]"}.get(row.status, "[dim]·[/dim]")
        st.env.info(f"{mark} {safe(row.name):<14} {row.seconds:6.1f}s  {safe(row.detail)}")

    st.env.info(f"rehearsing: doctor, reset, {', '.join(safe(n) for n in scenarios)}, reset")
    result = app.rehearse(scenarios, dirs or (), warn=_warn(st), say=log_step, on_row=on_row)
    if st.env.json:
        st.env.emit_json(result.as_dict())
    else:
        st.env.out.print(rehearsal_table(result))
    if not result.passed:
        first = result.failures[0] if result.failures else None
        st.env.error(
            f"rehearsal failed: {len(result.failures)} step(s)"
            + (f"; first: {first.name}: {first.detail}" if first else ""),
            hint="run the failed scenario alone with `polydemo scenario run NAME` to see each step",
        )
        raise typer.Exit(result.exit_status)
    st.env.info(f"[ok]rehearsal passed[/ok] in {result.seconds:.1f}s: the stack is seeded and converged")


def rehearsal_table(result) -> Table:
    table = Table(title="polydemo rehearse", title_style="bold")
    table.add_column("step", style="svc")
    table.add_column("result")
    table.add_column("time", justify="right")
    table.add_column("detail")
    style = {"passed": "ok", "FAILED": "bad", "skipped": "dim"}
    for r in result.rows:
        table.add_row(
            safe_text(r.name), Text(r.status, style=style[r.status]), f"{r.seconds:.1f}s", safe_text(r.detail)
        )
    table.add_row(
        Text("total", style="bold"),
        Text("passed" if result.passed else "FAILED", style="ok" if result.passed else "bad"),
        f"{result.seconds:.1f}s",
        f"{sum(1 for r in result.rows if r.kind == 'scenario' and r.ok)}"
        f"/{sum(1 for r in result.rows if r.kind == 'scenario')} scenarios",
    )
    return table
