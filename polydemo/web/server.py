"""The ASGI application: the page, the JSON endpoints, the live WebSocket and GraphQL (docs/web.md).

:func:`create_app` takes its collaborators (the Settings, how to make a Demo, how to collect a snapshot, how to
read a projector's ring), so a test can build it over its own stack; ``polydemo.web.__main__`` serves it with
uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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
from polydemo.web import audience as audience_lib
from polydemo.web.audience import AudienceOptions
from polydemo.web.hub import Hub
from polydemo.web.schema import audience_info, close_audience, open_audience, schema
from polydemo.web.sessions import AUDIENCE, DEFAULT_TTL_S, PRESENTER
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


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}


def on_audience_listener(scope: Scope, state: WebState) -> bool:
    server = scope.get("server") or (None, None)
    return state.audience is not None and server[1] == state.audience.port


def _host(headers: dict[bytes, bytes]) -> str:
    raw = headers.get(b"host", b"").decode("latin-1")
    return raw.rsplit(":", 1)[0] if not raw.endswith("]") else raw


class ListenerGuard:
    """Who may ask what, before any route runs.

    * On the audience's listener: only the join page, its files, the health check and ``POST /graphql`` (whose
      operations the schema's AudienceGate checks); anything else is 404, a WebSocket is refused.
    * On the presenter's listener (127.0.0.1): the Host must be a loopback name (a page of another site that
      resolves its own name to 127.0.0.1, DNS rebinding, is refused), and a WebSocket from a page of another origin
      is refused (403), so no site the presenter visits can watch or drive the demo.
    """

    def __init__(self, app: ASGIApp, state: WebState):
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if on_audience_listener(scope, self.state):
            path = scope.get("path", "")
            allowed = scope["type"] == "http" and (
                path in ("/join", "/api/health")
                or (path == "/graphql" and scope.get("method") == "POST")
                or (path.startswith("/static/join.") and "/" not in path[len("/static/") :])
            )
            if not allowed:
                await self._refuse(scope, receive, send, 404, "not found")
                return
        else:
            if _host(headers) not in LOOPBACK_HOSTS:
                await self._refuse(scope, receive, send, 403, "this listener answers 127.0.0.1 only")
                return
            origin = headers.get(b"origin")
            if scope["type"] == "websocket" and origin is not None:
                origin_host = origin.decode("latin-1").split("://", 1)[-1]
                if origin_host != headers.get(b"host", b"").decode("latin-1"):
                    await self._refuse(scope, receive, send, 403, "a WebSocket from another origin")
                    return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, why: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": why})  # before accept: HTTP 403
            return
        await PlainTextResponse(why, status_code=status)(scope, receive, send)


class Gateway(GraphQL):
    """strawberry's ASGI GraphQL app, with the gateway's state and the listener in every resolver's context."""

    def __init__(self, state: WebState):
        super().__init__(schema, graphql_ide=None, keep_alive=True, keep_alive_interval=15)
        self.state = state

    async def get_context(self, request: Any, response: Any) -> Any:
        listener = AUDIENCE if on_audience_listener(request.scope, self.state) else PRESENTER
        return {"request": request, "response": response, "state": self.state, "listener": listener}


class Endpoints:
    """The plain HTTP and WebSocket endpoints (GraphQL is strawberry's), over one state and its hub."""

    def __init__(self, state: WebState):
        self.state = state
        self.hub = state.hub

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def join_page(self, request: Request) -> Response:
        if self.state.audience is None:
            return PlainTextResponse("no audience session: the speaker starts one with --audience", status_code=404)
        return FileResponse(STATIC / "join.html", headers={"Cache-Control": "no-cache"})

    async def audience_json(self, request: Request) -> Response:
        return JSONResponse(await self.state.run(audience_info, self.state))

    async def audience_qr(self, request: Request) -> Response:
        info = await self.state.run(audience_info, self.state)
        if not info["active"]:
            return PlainTextResponse("no audience session is open", status_code=404)
        return Response(audience_lib.qr_svg(info["url"]), media_type="image/svg+xml")

    async def health(self, request: Request) -> Response:
        if on_audience_listener(request.scope, self.state):
            return JSONResponse({"ok": True, "audience": self.state.epoch is not None})
        snap = self.hub.snapshot or {}
        services = [
            {"name": s["name"], "ok": s["ok"], "label": s.get("label"), "error": s.get("error")}
            for s in snap.get("services") or []
        ]
        body = {
            "ok": bool(services) and all(s["ok"] for s in services),
            "runtime": snap.get("runtime"),
            "services": services,
            "clients": self.hub.clients,
            "snapshots": self.hub.snapshots,  # collected since start: one collector for every client
        }
        return JSONResponse(body)

    async def snapshot(self, request: Request) -> Response:
        if self.hub.snapshot is None:
            return JSONResponse({"error": "no snapshot yet", "hint": "retry in a second"}, status_code=503)
        return JSONResponse(self.hub.snapshot)

    async def flows(self, request: Request) -> Response:
        return JSONResponse({"flows": self.hub.tracker.recent(200)})

    async def sdl(self, request: Request) -> Response:
        return PlainTextResponse(schema.as_str())

    async def live(self, ws: WebSocket) -> None:
        await ws.accept()
        q = self.hub.subscribe()
        try:
            if self.hub.snapshot_text is not None:
                await ws.send_text(self.hub.snapshot_text)
            for kind, data in list(self.hub.extra_messages.items()):
                await ws.send_text(json.dumps({"type": kind, "data": data}, default=str))
            while True:
                await ws.send_text(await q.get())
        except (WebSocketDisconnect, RuntimeError):
            pass  # the tab closed (RuntimeError: sent after the close): nothing to clean but the queue
        finally:
            self.hub.unsubscribe(q)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.state.run(open_audience, self.state)
        self.hub.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            self.hub.stop()
            with contextlib.suppress(Exception):  # Redis gone at shutdown: the code dies with the gateway anyway
                await self.state.run(close_audience, self.state)
            self.state.close()

    def routes(self, graphql: Gateway) -> list:
        return [
            Route("/", self.index),
            Route("/join", self.join_page),
            Route("/api/audience", self.audience_json),
            Route("/api/audience/qr.svg", self.audience_qr),
            Route("/api/health", self.health),
            Route("/api/snapshot", self.snapshot),
            Route("/api/flows", self.flows),
            WebSocketRoute("/api/live", self.live),
            Route("/graphql/schema", self.sdl),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static"),
        ]


def create_app(
    settings: Settings,
    make_demo: Callable[[], Demo],
    collect: Callable[[], Any],
    recent: Callable[[Settings, str], list[dict] | None],
    session_ttl_s: int = DEFAULT_TTL_S,
    snapshot_every_s: float = 1.0,
    names: Callable[[str, list[str]], dict[str, str]] | None = None,
    audience: AudienceOptions | None = None,
) -> Starlette:
    hub = Hub(settings, collect, recent, snapshot_every_s=snapshot_every_s, names=names)
    state = WebState(settings, hub, make_demo, session_ttl_s=session_ttl_s, audience=audience)

    def extra() -> dict[str, Any]:
        info = audience_info(state)
        hub.hidden = set(info["hidden"])
        return {"audience": info}

    hub.extra = extra
    endpoints = Endpoints(state)
    app = Starlette(
        routes=endpoints.routes(Gateway(state)),
        middleware=[Middleware(BodyLimit), Middleware(ListenerGuard, state=state)],
        lifespan=endpoints.lifespan,
    )
    app.state.web = state
    return app


def default_app(
    settings: Settings, session_ttl_s: int = DEFAULT_TTL_S, audience: AudienceOptions | None = None
) -> Starlette:
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

    return create_app(
        settings, make_demo, collect, read_recent, session_ttl_s=session_ttl_s, names=names, audience=audience
    )
