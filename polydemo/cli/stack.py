"""Stack commands: up, down, status, logs, doctor."""

from __future__ import annotations

import contextlib
import time

import typer

from polydemo import views
from polydemo.cli.context import command, state, with_json
from polydemo.cli.progress import LineProgress
from polydemo.console import Environment, safe_text
from polydemo.errors import ExitStatus, PolydemoError

SERVICES_ARG = typer.Argument(
    None, show_default=False, help="Services (default: all): postgres timeseries redis mongo neo4j kafka connect."
)
JSON_OPT = typer.Option(False, "--json", help="Machine-readable output on stdout.")

STATE_ICON = {
    "healthy": "[ok]✔ healthy[/ok]",
    "running": "[ok]✔ already running[/ok]",
    "failed": "[bad]✘ failed[/bad]",
    "stopped": "[ok]■ stopped[/ok]",
    "killed": "[warn]■ killed (SIGKILL after timeout)[/warn]",
    "not running": "[dim]· not running[/dim]",
}


class ProgressReporter(LineProgress):
    """Turns runtime progress callbacks into one line per service."""

    def __init__(self, env: Environment, services: list[str], verb: str):
        super().__init__(env, {name: name for name in services}, width=11)
        self.verb = verb

    def __call__(self, service: str, st: str, detail: str) -> None:
        text = STATE_ICON.get(st, f"{st}{(' ' + detail) if detail else ''}")
        if st == "failed":
            text = f"[bad]✘ failed[/bad] {detail.splitlines()[0] if detail else ''}"
        done = st in STATE_ICON or st == "failed"
        self.show(service, text, done=done, plain=done)


def register(app: typer.Typer) -> None:
    for name, fn in (("up", up), ("down", down), ("status", status), ("logs", logs), ("doctor", doctor)):
        command(app, name)(fn)


def up(
    ctx: typer.Context,
    services: list[str] | None = SERVICES_ARG,
    keep: bool = typer.Option(False, "--keep", help="If a service fails, leave the others running (to debug)."),
    pipeline: bool = typer.Option(
        True,
        "--pipeline/--no-pipeline",
        help="Also apply schemas, register the CDC connector and start the projectors.",
    ),
    kafka_brokers: int | None = typer.Option(
        None,
        "--kafka-brokers",
        help="1 (default) or 3: a three-node KRaft cluster, topics with replication factor 3 and "
        "min.insync.replicas=2 (also POLYDEMO_KAFKA_BROKERS; remembered by the home).",
    ),
    web: bool = typer.Option(
        False, "--web", help="Also start the web gateway and the live view on 127.0.0.1 (`polydemo web start`)."
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """Start the stack (all services by default) and wait until every one is healthy.

    Idempotent: services already running are reported, not started twice. Checks that
    everything is installed and every port is free before starting anything.
    """
    st = with_json(ctx, json_out)
    if kafka_brokers is not None:
        st.use_kafka_brokers(kafka_brokers)
    runtime = st.runtime()
    choice = st.runtime_choice()
    if kafka_brokers is not None:
        from polydemo.config import remember_kafka_brokers

        remember_kafka_brokers(st.settings.home, kafka_brokers)  # status, down and scenarios see it
    names = runtime.select(services)
    st.env.info(f"polydemo up: [bold]{runtime.name}[/bold] runtime ({choice.reason}), home {st.settings.home}")
    from polydemo import stack as stack_lib
    from polydemo.runtime.choice import remember

    with ProgressReporter(st.env, names, "up") as reporter:
        full = stack_lib.bring_up(runtime, names, keep=keep, progress=reporter, pipeline=pipeline)
    # Only a successful `up` records the home's runtime, and only the first one (runtime/choice.py).
    remember(st.settings.home, runtime.name)
    result = full.servers
    web_outcome = None
    if web:
        from polydemo.web import service as web_service

        web_outcome = web_service.start(st.settings)
    if st.env.json:
        st.env.emit_json(
            {
                "runtime": runtime.name,
                "runtime_reason": choice.reason,
                "seconds": round(full.seconds, 2),
                "started": result.started,
                "already_running": result.already_running,
                "connector": full.connector_state,
                "projectors": full.workers,
                "notes": full.notes,
                "services": [s.as_dict() for s in result.statuses],
                "web": web_outcome,
            }
        )
        return
    st.env.out.print(views.endpoints_table(result.statuses, endpoint_urls(st.settings)))
    extra = f"; connector {full.connector_state}, projectors up" if full.connector_state else ""
    st.env.info(
        f"[ok]all {len(result.statuses)} services healthy[/ok] in {full.seconds:.1f}s "
        f"({len(result.started)} started, {len(result.already_running)} already running{extra})"
    )
    for note in full.notes:
        st.env.info(f"[warn]note:[/warn] {safe_text(note)}")
    if web_outcome is not None:
        from polydemo.web import service as web_service

        st.env.info(f"web gateway {web_outcome}: open {web_service.url(st.settings)}")


def broker_rows(settings, statuses, runtime) -> tuple[list[dict], int | None]:
    """Cluster mode: one row per broker (id, service, port, pid, up/down, controller leader) from the
    status rows, and the controller quorum's leader (the nodes' quorum-state files: on the local runtime
    in the home, on docker read inside the running broker containers)."""
    found = runtime.controller_leader()
    leader = found[0] if found else None
    by_name = {s.service: s for s in statuses}
    rows = []
    for n in settings.broker_ids():
        svc = settings.broker_service(n)
        row = by_name.get(svc)
        rows.append(
            {
                "id": n,
                "service": svc,
                "port": settings.broker_port(n),
                "pid": row.pid if row else None,
                "state": "up" if row and row.healthy else "down",
                "controller_leader": n == leader,
            }
        )
    return rows, leader


def endpoint_urls(settings) -> dict[str, str]:
    return {
        "postgres": f"postgresql://{settings.pg_user}@{settings.host}:{settings.ports['postgres']}/{settings.pg_db}",
        "timeseries": f"postgresql://{settings.pg_user}@{settings.host}:{settings.ports['timeseries']}/{settings.ts_db}",
        "redis": settings.redis_url,
        "mongo": f"mongodb://{settings.host}:{settings.ports['mongo']}/{settings.mongo_db}",
        "neo4j": settings.neo4j_uri,
        "kafka": settings.kafka_bootstrap,
        "connect": settings.connect_url,
    }


def down(
    ctx: typer.Context,
    services: list[str] | None = SERVICES_ARG,
    json_out: bool = JSON_OPT,
) -> None:
    """Stop the stack gracefully; anything still alive after the timeout is SIGKILLed. Data is kept."""
    st = with_json(ctx, json_out)
    runtime = st.runtime()
    names = runtime.select(services)
    t0 = time.monotonic()
    from polydemo import stack as stack_lib
    from polydemo.web import service as web_service

    web_outcome = web_service.stop(st.settings) if set(names) >= set(runtime.select(None)) else None
    with ProgressReporter(st.env, names, "down") as reporter:
        outcome = stack_lib.bring_down(runtime, names, progress=reporter)
    if web_outcome not in (None, "not running"):
        outcome["web"] = web_outcome  # listed only when it ran (as the optional projectors are)
    if st.env.json:
        st.env.emit_json({"runtime": runtime.name, "seconds": round(time.monotonic() - t0, 2), "services": outcome})
    else:
        st.env.info(f"stopped in {time.monotonic() - t0:.1f}s; data kept in {runtime.data_location()}")


def status(
    ctx: typer.Context,
    services: list[str] | None = SERVICES_ARG,
    json_out: bool = JSON_OPT,
) -> None:
    """Show each service: engine and version, port, pid, health, uptime and RSS."""
    st = with_json(ctx, json_out)
    runtime = st.runtime()
    statuses = runtime.status(services)
    from polydemo import stack as stack_lib

    pg_up = any(s.service == "postgres" and s.healthy for s in statuses)
    slot = stack_lib.slot_status(st.settings) if pg_up else None
    brokers, leader = broker_rows(st.settings, statuses, runtime) if st.settings.cluster else ([], None)
    from polydemo.web import service as web_service

    web = web_service.status(st.settings)
    disks = disk_usage(runtime, [s.service for s in statuses])
    why_stopped = stopped_for_space(runtime, statuses)
    if st.env.json:
        st.env.emit_json(
            {
                "runtime": runtime.name,
                "home": str(st.settings.home),
                "services": [s.as_dict() for s in statuses],
                "disks": [d.as_dict() for d in disks],
                "stopped_for_space": why_stopped,
                "slot": slot.as_dict() if slot else None,
                "kafka_brokers": st.settings.kafka_brokers,
                "brokers": brokers,
                "controller_leader": leader,
                "web": web.as_dict(),
            }
        )
    else:
        st.env.out.print(views.status_table(statuses, runtime.name))
        if brokers:
            st.env.out.print(views.brokers_table(brokers, leader))
        if slot is not None:
            st.env.out.print(views.slot_line(slot))
        for text in views.disk_lines(disks, statuses, why_stopped):
            st.env.info(text)
        if web.running:
            st.env.info(f"web gateway: pid {web.pid}, {web.url}{'' if web.healthy else ' (not answering)'}")
        st.env.info(f"home {st.settings.home}")
    if not all(s.healthy for s in statuses) or any(d.full for d in disks):
        raise typer.Exit(ExitStatus.ERROR)


def stopped_for_space(runtime, statuses) -> dict[str, str]:
    """The stopped servers whose log's last lines say they ran out of disk space: service -> that line."""
    from polydemo import diskspace

    out = {}
    for s in statuses:
        if s.state == "stopped":
            why = diskspace.ran_out(runtime.log_tail(s.service, 200))
            if why:
                out[s.service] = why
    return out


def disk_usage(runtime, services: list[str]) -> list:
    """Each service's data directory and its free space (polydemo/diskspace.py): the local runtime's directories,
    the docker runtime's volumes as ``df`` in each running container sees them."""
    return runtime.disk_usage(services)


def logs(
    ctx: typer.Context,
    service: str = typer.Argument(
        ..., help="A service (postgres, timeseries, redis, mongo, neo4j, kafka, connect), or web (the gateway)."
    ),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines (Ctrl-C to stop)."),
    lines: int = typer.Option(40, "--lines", "-n", help="How many of the last lines to print first."),
) -> None:
    """Print a service's log."""
    st = state(ctx)
    runtime = st.runtime()
    argv = None if service == "web" else runtime.logs_argv(service, follow, lines)
    if argv is not None:  # docker: compose streams the container's log
        import subprocess

        with contextlib.suppress(KeyboardInterrupt):
            subprocess.run(argv, check=False)
        return
    if service == "web":
        from polydemo.web import service as web_service

        path = web_service.log_file(st.settings)
    else:
        path = runtime.log_path(service)
    if path is None or not path.exists():
        raise PolydemoError(f"no log for {service} yet", hint="start it with `polydemo up`")
    from polydemo import procs

    st.env.stdout.write(procs.tail(path, lines) + "\n")
    if not follow:
        return
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        try:
            while True:
                chunk = fh.read()
                if chunk:
                    st.env.stdout.write(chunk.decode("utf-8", "replace"))
                    st.env.stdout.flush()
                else:
                    time.sleep(0.25)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how `logs --follow` ends: a clean exit, not an error


def doctor(ctx: typer.Context, json_out: bool = JSON_OPT) -> None:
    """Check package data, Java, binaries, jars, free ports and disk; print the fix for each problem."""
    from polydemo import doctor as doctor_lib

    st = with_json(ctx, json_out)
    checks = doctor_lib.run_checks(st.settings)
    if st.env.json:
        st.env.emit_json([c.as_dict() for c in checks])
    else:
        st.env.out.print(doctor_lib.render(checks))
    bad = [c for c in checks if not c.ok]
    if bad:
        st.env.error(f"{len(bad)} problem(s) found; first: {bad[0].name}: {bad[0].detail}", hint=bad[0].fix)
        raise typer.Exit(ExitStatus.ERROR)
    st.env.info("[ok]everything polydemo needs is in place[/ok]")
