"""``polydemo web``: the web gateway and the live view (docs/web.md)."""

from __future__ import annotations

import typer

from polydemo.cli.context import command, state, with_json

JSON_OPT = typer.Option(False, "--json", help="Machine-readable output on stdout.")


def register(app: typer.Typer) -> None:
    web = typer.Typer(
        help="The web gateway (GraphQL, JSON, a live WebSocket) and the browser view, on 127.0.0.1.",
        no_args_is_help=True,
    )
    for name, fn in (("start", w_start), ("stop", w_stop), ("status", w_status), ("serve", w_serve)):
        command(web, name)(fn)
    app.add_typer(web, name="web")


def w_serve(ctx: typer.Context) -> None:
    """Serve the gateway in the foreground, in this terminal (Ctrl-C stops it)."""
    from polydemo.web import service

    st = state(ctx)
    st.env.info(f"polydemo web: serving {service.url(st.settings)} (Ctrl-C to stop)")
    raise typer.Exit(service.serve(st.settings))


def w_start(ctx: typer.Context, json_out: bool = JSON_OPT) -> None:
    """Start the gateway as a service of the stack (`status`, `logs web` and `down` know it)."""
    from polydemo.web import service

    st = with_json(ctx, json_out)
    outcome = service.start(st.settings)
    if st.env.json:
        st.env.emit_json({"web": outcome, "url": service.url(st.settings)})
    else:
        st.env.out.print(f"web gateway: {outcome}; open {service.url(st.settings)}")


def w_stop(ctx: typer.Context, json_out: bool = JSON_OPT) -> None:
    """Stop the gateway."""
    from polydemo.web import service

    st = with_json(ctx, json_out)
    outcome = service.stop(st.settings)
    if st.env.json:
        st.env.emit_json({"web": outcome})
    else:
        st.env.out.print(f"web gateway: {outcome}")


def w_status(ctx: typer.Context, json_out: bool = JSON_OPT) -> None:
    """Whether the gateway runs, its pid and its URL."""
    from polydemo.web import service

    st = with_json(ctx, json_out)
    s = service.status(st.settings)
    if st.env.json:
        st.env.emit_json(s.as_dict())
    elif s.running:
        st.env.out.print(f"web gateway: running (pid {s.pid}) at {s.url}{'' if s.healthy else ', not answering'}")
    else:
        st.env.out.print("web gateway: not running; start it with `polydemo web start` (or `polydemo up --web`)")
    if not s.running:
        raise typer.Exit(1)
