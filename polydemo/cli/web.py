"""``polydemo web``: the web gateway and the live view (docs/web.md)."""

from __future__ import annotations

import typer

from polydemo.cli.context import command, state, with_json

JSON_OPT = typer.Option(False, "--json", help="Machine-readable output on stdout.")
AUDIENCE_OPT = typer.Option(
    False,
    "--audience",
    help="Also let the room join from their phones: a second listener (--listen, port 4001) with the join page and "
    "the audience's API only. The only way anything listens beyond 127.0.0.1.",
)
LISTEN_OPT = typer.Option(None, "--listen", help="With --audience: the address to listen on (default 0.0.0.0).")
MAX_OPT = typer.Option(None, "--max-audience", help="With --audience: at most this many people join (default 1000).")


def _audience(st, audience: bool, listen: str | None, max_audience: int | None):
    from polydemo.errors import PolydemoError
    from polydemo.web import service

    if not audience:
        if listen is not None or max_audience is not None:
            raise PolydemoError("--listen and --max-audience need --audience", hint="add --audience")
        return None
    return service.audience_options(st.settings, listen, max_audience)


def _say_audience(st, info: dict | None) -> None:
    from polydemo.console import safe_text
    from polydemo.web.audience import qr_text

    if not info or not info.get("active"):
        return
    st.env.out.print(f"audience: join at {safe_text(info['url'])}  (code {safe_text(info['code'])})")
    st.env.stdout.write(qr_text(info["url"]))


def register(app: typer.Typer) -> None:
    web = typer.Typer(
        help="The web gateway (GraphQL, JSON, a live WebSocket) and the browser view, on 127.0.0.1.",
        no_args_is_help=True,
    )
    for name, fn in (("start", w_start), ("stop", w_stop), ("status", w_status), ("serve", w_serve)):
        command(web, name)(fn)
    app.add_typer(web, name="web")


def w_serve(
    ctx: typer.Context,
    audience: bool = AUDIENCE_OPT,
    listen: str | None = LISTEN_OPT,
    max_audience: int | None = MAX_OPT,
) -> None:
    """Serve the gateway in the foreground, in this terminal (Ctrl-C stops it)."""
    from polydemo.web import service

    st = state(ctx)
    options = _audience(st, audience, listen, max_audience)
    where = f" and the audience's join page on {options.listen}:{options.port}" if options else ""
    st.env.info(f"polydemo web: serving {service.url(st.settings)}{where} (Ctrl-C to stop)")
    raise typer.Exit(service.serve(st.settings, options))


def w_start(
    ctx: typer.Context,
    audience: bool = AUDIENCE_OPT,
    listen: str | None = LISTEN_OPT,
    max_audience: int | None = MAX_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Start the gateway as a service of the stack (`status`, `logs web` and `down` know it)."""
    from polydemo.web import service

    st = with_json(ctx, json_out)
    options = _audience(st, audience, listen, max_audience)
    outcome = service.start(st.settings, audience=options)
    info = service.audience_status(st.settings) if options else None
    if st.env.json:
        st.env.emit_json({"web": outcome, "url": service.url(st.settings), "audience": info})
        return
    st.env.out.print(f"web gateway: {outcome}; open {service.url(st.settings)}")
    if options is not None and outcome == "already running":
        st.env.info("[warn]note:[/warn] it was already running: stop it first to start it with --audience")
    _say_audience(st, info)


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
