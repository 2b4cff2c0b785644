"""The ASGI application: the page, the JSON endpoints, the live WebSocket and GraphQL (docs/web.md).

:func:`create_app` takes its collaborators (the Settings, how to make a Demo, how to collect a snapshot, how to
read a projector's ring), so a test can build it over its own stack; ``polydemo.web.__main__`` serves it with
uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import GraphQL

from polydemo.app import Demo
from polydemo.config import Settings
from polydemo.web.hub import Hub
from polydemo.web.schema import schema
from polydemo.web.sessions import DEFAULT_TTL_S
from polydemo.web.state import WebState

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
MAX_BODY = 64 * 1024  # a GraphQL request larger than this is not one of ours


class BodyLimit:
    """Refuse a request body over ``MAX_BODY`` bytes with one line (413), before anything reads it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
                response = PlainTextResponse(f"request body over {MAX_BODY} bytes", status_code=413)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Gateway(GraphQL):
    """strawberry's ASGI GraphQL app, with the gateway's state in every resolver's context."""

    def __init__(self, state: WebState):
        super().__init__(schema, graphql_ide=None, keep_alive=True, keep_alive_interval=15)
        self.state = state

    async def get_context(self, request: Any, response: Any) -> Any:
        return {"request": request, "response": response, "state": self.state}


def create_app(
    settings: Settings,
    make_demo: Callable[[], Demo],
    collect: Callable[[], Any],
    recent: Callable[[Settings, str], list[dict] | None],
    session_ttl_s: int = DEFAULT_TTL_S,
    snapshot_every_s: float = 1.0,
    names: Callable[[str, list[str]], dict[str, str]] | None = None,
) -> Starlette:
    hub = Hub(settings, collect, recent, snapshot_every_s=snapshot_every_s, names=names)
    state = WebState(settings, hub, make_demo, session_ttl_s=session_ttl_s)
    graphql = Gateway(state)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def health(request: Request) -> Response:
        snap = hub.snapshot or {}
        services = [
            {"name": s["name"], "ok": s["ok"], "label": s.get("label"), "error": s.get("error")}
            for s in snap.get("services") or []
        ]
        ok = bool(services) and all(s["ok"] for s in services)
        body = {
            "ok": ok,
            "runtime": snap.get("runtime"),
            "services": services,
            "clients": hub.clients,
            "snapshots": hub.snapshots,  # collected since start: one collector for every client
        }
        return JSONResponse(body, status_code=200)

    async def snapshot(request: Request) -> Response:
        if hub.snapshot is None:
            return JSONResponse({"error": "no snapshot yet", "hint": "retry in a second"}, status_code=503)
        return JSONResponse(hub.snapshot)

    async def flows(request: Request) -> Response:
        return JSONResponse({"flows": hub.tracker.recent(200)})

    async def sdl(request: Request) -> Response:
        return PlainTextResponse(schema.as_str())

    async def live(ws: WebSocket) -> None:
        await ws.accept()
        q = hub.subscribe()
        try:
            if hub.snapshot_text is not None:
                await ws.send_text(hub.snapshot_text)
            while True:
                await ws.send_text(await q.get())
        except (WebSocketDisconnect, RuntimeError):
            pass  # the tab closed (RuntimeError: sent after the close): nothing to clean but the queue
        finally:
            hub.unsubscribe(q)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hub.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            hub.stop()
            state.close()

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/api/health", health),
            Route("/api/snapshot", snapshot),
            Route("/api/flows", flows),
            WebSocketRoute("/api/live", live),
            Route("/graphql/schema", sdl),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static"),
        ],
        middleware=[Middleware(BodyLimit)],
        lifespan=lifespan,
    )
    app.state.web = state
    return app


def default_app(settings: Settings, session_ttl_s: int = DEFAULT_TTL_S) -> Starlette:
    """The app over the real stack of ``settings``: the runtime named by the home, the dashboard's collector and
    the projectors' status files."""
    from polydemo.pipeline.trace import read_recent
    from polydemo.runtime import resolve_runtime_name

    runtime_name = resolve_runtime_name(settings)
    collector_box: dict[str, Any] = {}

    def collect() -> Any:
        if "c" not in collector_box:
            from polydemo.dashboard.snapshot import Collector

            collector_box["c"] = Collector(settings, runtime_name)
        return collector_box["c"].collect()

    def make_demo() -> Demo:
        return Demo(settings, runtime_name=lambda: runtime_name)

    labels_box: dict[str, Demo] = {}

    def names(kind: str, ids: list[str]) -> dict[str, str]:
        """Users' names (Postgres) and posts' titles (Mongo) for the flows' labels, on the flows thread's own Demo."""
        demo = labels_box.setdefault("demo", make_demo())
        return demo.labels(kind, ids)

    return create_app(settings, make_demo, collect, read_recent, session_ttl_s=session_ttl_s, names=names)
