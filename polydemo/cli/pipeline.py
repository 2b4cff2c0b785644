"""Pipeline commands: the projectors (and the post relay) and the Debezium connector."""

from __future__ import annotations

from collections.abc import Callable

import typer
from rich.table import Table

from polydemo.cli.context import command, with_json
from polydemo.console import safe_text
from polydemo.errors import PolydemoError

JSON_OPT = typer.Option(False, "--json", help="Machine-readable output on stdout.")
NAME_ARG = typer.Argument(..., help="graph, cache, analytics, relay or the optional wtf.")
OPTIONAL_ARG = typer.Argument(..., help="wtf (who to follow: friends of friends in Redis).")


def register(app: typer.Typer) -> None:
    proj = typer.Typer(
        help="Start, stop, kill (-9) and inspect the projectors and the post relay.", no_args_is_help=True
    )
    commands: tuple[tuple[str, Callable[..., None]], ...] = (
        ("start", p_start),
        ("stop", p_stop),
        ("kill", p_kill),
        ("status", p_status),
        ("scale", p_scale),
        ("add", p_add),
        ("remove", p_remove),
    )
    for name, fn in commands:
        command(proj, name)(fn)
    app.add_typer(proj, name="projector")
    conn = typer.Typer(help="The Debezium CDC connector in Kafka Connect.", no_args_is_help=True)
    commands = (
        ("status", c_status),
        ("register", c_register),
        ("pause", c_pause),
        ("resume", c_resume),
        ("restart", c_restart),
    )
    for name, fn in commands:
        command(conn, name)(fn)
    app.add_typer(conn, name="connector")


def _say(st, name: str, outcome: str) -> None:
    if st.env.json:
        st.env.emit_json({"projector": name, "outcome": outcome})
    else:
        st.env.out.print(f"projector {name}: {outcome}")


def p_start(ctx: typer.Context, name: str = NAME_ARG, json_out: bool = JSON_OPT) -> None:
    """Start a projector (it resumes from its committed offset)."""
    from polydemo.pipeline import workers

    st = with_json(ctx, json_out)
    _say(st, name, workers.start(st.settings, name))


def p_stop(ctx: typer.Context, name: str = NAME_ARG, json_out: bool = JSON_OPT) -> None:
    """Stop a projector gracefully (SIGTERM)."""
    from polydemo.pipeline import workers

    st = with_json(ctx, json_out)
    _say(st, name, workers.stop(st.settings, name))


def p_kill(ctx: typer.Context, name: str = NAME_ARG, json_out: bool = JSON_OPT) -> None:
    """Kill a projector with SIGKILL: a crash, mid-batch, with nothing flushed."""
    from polydemo.pipeline import workers

    st = with_json(ctx, json_out)
    _say(st, name, workers.kill(st.settings, name))


def p_scale(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="graph, cache, analytics or the optional wtf (not the relay)."),
    count: int = typer.Argument(..., help="How many instances to run, 1 to 6 (the topics have 6 partitions)."),
    json_out: bool = JSON_OPT,
) -> None:
    """Run COUNT instances of a projector in its one consumer group; Kafka shares the partitions between them.

    Starts the missing instances and stops the extra ones, each by its own pid; `projector status` lists them.
    """
    from polydemo.pipeline import workers

    st = with_json(ctx, json_out)
    outcome = workers.scale(st.settings, name, count)
    if st.env.json:
        st.env.emit_json({"projector": name, "instances": count, "changed": outcome})
        return
    done = ", ".join(f"#{i} {what}" for i, what in sorted(outcome.items())) or "nothing to change"
    st.env.out.print(f"projector {name}: {count} instance{'s' if count > 1 else ''} ({done})")


def p_add(ctx: typer.Context, name: str = OPTIONAL_ARG, json_out: bool = JSON_OPT) -> None:
    """Add an optional read model: a new consumer group that fills it from the start of the topics, then live."""
    from polydemo.pipeline import workers

    st = with_json(ctx, json_out)
    _say(st, name, workers.add(st.settings, name))


def p_remove(ctx: typer.Context, name: str = OPTIONAL_ARG, json_out: bool = JSON_OPT) -> None:
    """Remove an optional read model: stop it, delete its consumer group and its keys."""
    from polydemo.pipeline import workers
    from polydemo.stores import using

    st = with_json(ctx, json_out)
    with using(st.settings) as stores:
        _say(st, name, workers.remove(st.settings, name, stores))


def p_status(ctx: typer.Context, name: str | None = typer.Argument(None), json_out: bool = JSON_OPT) -> None:
    """Each projector: pid, state, processed count, last error, lag (messages and seconds) and its trend.

    The trend is the last minute of lag as time, as the projector itself saw it (how long the oldest
    change of each batch had waited), one cell per 7.5 s, and its peak.

    Example: polydemo projector status graph --json
    """
    from polydemo.dashboard.render import lag_age, sparkline
    from polydemo.dashboard.snapshot import lag_trend
    from polydemo.pipeline import lag, workers

    st = with_json(ctx, json_out)
    names = [name] if name else [*workers.WORKERS, *workers.running_optional(st.settings)]
    for n in names:
        if n not in workers.ALL_WORKERS:
            raise PolydemoError(f"unknown projector {n!r}", hint=f"projectors are: {', '.join(workers.ALL_WORKERS)}")
    import time

    from polydemo.errors import StoreUnreachable
    from polydemo.stores.kafka import KafkaAdmin

    lags: dict[str, int] = {}
    seconds: dict[str, float | None] = {}
    try:
        with KafkaAdmin(st.settings) as kafka:
            parts = lag.projector_partitions(st.settings, kafka)
            lags = {n: sum(p.lag for p in ps) for n, ps in parts.items()}
            seconds = lag.projector_lag_seconds(st.settings, kafka, parts, time.time() * 1000)
    except StoreUnreachable as exc:  # Kafka down: the processes' states are still worth showing
        st.env.info(f"[dim]lag unknown: Kafka did not answer ({exc.reason})[/dim]")
    rows = [
        # The lag is the group's (all instances together): on the first row only.
        {**w.as_dict(), "lag": lags.get(n) if w.instance == 1 else None, "lag_seconds": seconds.get(n)}
        for n in names
        for w in workers.statuses(st.settings, n)
    ]
    if st.env.json:
        st.env.emit_json(rows)
        return
    table = Table(title="pipeline processes", title_style="bold")
    for col in ("name", "pid", "state", "processed", "lag", "lag (s)", "last minute", "last error"):
        table.add_column(col, no_wrap=col in ("name", "last minute"))
    now = time.time()
    for r in rows:
        trend = lag_trend([(t, v) for t, v in r["lag_history"]], now)
        table.add_row(
            r["name"] if r["instance"] == 1 else f"{r['name']}#{r['instance']}",
            str(r["pid"] or "-"),
            r["state"],
            str(r["processed"] if r["processed"] is not None else "-"),
            "-" if r["lag"] is None else str(r["lag"]),
            "-" if r["lag"] is None else lag_age(r["lag_seconds"]),
            f"{sparkline([round(v * 100) for v in trend])} {lag_age(max(trend))}" if r["lag_history"] else "-",
            safe_text(r["last_error"] or ""),
        )
    st.env.out.print(table)


def c_status(ctx: typer.Context, json_out: bool = JSON_OPT) -> None:
    """The connector's and its task's state."""
    from polydemo.pipeline import connector

    st = with_json(ctx, json_out)
    doc = connector.status(st.settings)
    state, tasks = connector.states(doc)
    if st.env.json:
        st.env.emit_json({"connector": st.settings.connector_name, "state": state, "tasks": tasks})
    else:
        st.env.out.print(f"connector {st.settings.connector_name}: {state}; tasks: {', '.join(tasks) or 'none'}")


def c_register(ctx: typer.Context) -> None:
    """Register (or update) the connector from stack/connect/polydemo-users.json and wait for RUNNING."""
    from polydemo.pipeline import connector

    st = with_json(ctx, False)
    connector.register(st.settings)
    st.env.out.print(f"connector {st.settings.connector_name}: RUNNING")


def c_pause(ctx: typer.Context) -> None:
    """Pause the connector (changes wait in the replication slot)."""
    from polydemo.pipeline import connector

    st = with_json(ctx, False)
    connector.pause(st.settings)
    st.env.out.print(f"connector {st.settings.connector_name}: paused")


def c_resume(ctx: typer.Context) -> None:
    """Resume the connector."""
    from polydemo.pipeline import connector

    st = with_json(ctx, False)
    connector.resume(st.settings)
    st.env.out.print(f"connector {st.settings.connector_name}: resumed")


def c_restart(ctx: typer.Context, json_out: bool = JSON_OPT) -> None:
    """Restart the connector and its task where they FAILED, and wait for RUNNING (Connect does not retry a
    failed task by itself). A cause still there fails it again, and the error shows the task's trace.

    Example: polydemo connector restart
    """
    from polydemo.pipeline import connector

    st = with_json(ctx, json_out)
    doc, restarted = connector.restart(st.settings)
    state, tasks = connector.states(doc)
    if st.env.json:
        st.env.emit_json(
            {"connector": st.settings.connector_name, "restarted": restarted, "state": state, "tasks": tasks}
        )
    else:
        done = f"restarted {', '.join(restarted)}" if restarted else "nothing had failed"
        st.env.out.print(f"connector {st.settings.connector_name}: {done}; {state}, tasks {', '.join(tasks) or 'none'}")
