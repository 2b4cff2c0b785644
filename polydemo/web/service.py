"""The gateway as a service of the stack: started, stopped and inspected like the projectors (a host process with
its pid file in the run directory and its log beside the others), on 127.0.0.1 only.

``start`` refuses a taken port in one line and waits until ``/api/health`` answers (or the process died: then the
last lines of its log say why); ``serve`` is what the spawned process runs (uvicorn, in this process).
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from polydemo import procs
from polydemo.config import Settings
from polydemo.errors import PortInUseError, ServiceStartError
from polydemo.web.audience import AudienceOptions

NAME = "web"
HOST = "127.0.0.1"  # the audience mode (its own issue) is the only way to listen beyond this machine
START_TIMEOUT_S = 30.0


def pid_file(settings: Settings) -> Path:
    return settings.run_dir / f"{NAME}.pid"


def log_file(settings: Settings) -> Path:
    return settings.log_file(NAME)


def port(settings: Settings) -> int:
    return settings.port(NAME)


def url(settings: Settings) -> str:
    return f"http://{HOST}:{port(settings)}"


def audience_options(settings: Settings, listen: str | None = None, max_users: int | None = None) -> AudienceOptions:
    """The audience listener's options (``--listen``, ``--max-audience``), checked: a bad one is one line."""
    return AudienceOptions.parse(listen, settings.port("web_audience"), max_users)


def _check_port(p: int, host: str, what: str, env: str) -> None:
    if not procs.port_free(p, host):
        owner = procs.port_owner(p)
        raise PortInUseError(
            f"port {p} for {what} is already in use{' by ' + owner if owner else ''}",
            hint=f"stop that process, or choose another port with {env}=<port> "
            "(or shift every port with POLYDEMO_PORT_OFFSET)",
        )


@dataclass
class WebStatus:
    running: bool
    pid: int | None
    url: str
    healthy: bool

    def as_dict(self) -> dict:
        return asdict(self)


def _answers(settings: Settings, timeout: float = 1.0) -> bool:
    """Does ``/api/health`` answer 200 (a probe of our own port on this machine: the standard library's urllib)?"""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url(settings)}/api/health", timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def status(settings: Settings) -> WebStatus:
    proc = procs.alive(pid_file(settings))
    return WebStatus(proc is not None, proc.pid if proc else None, url(settings), bool(proc) and _answers(settings))


def start(settings: Settings, timeout: float = START_TIMEOUT_S, audience: AudienceOptions | None = None) -> str:
    """Spawn the gateway (``python -m polydemo.web``); "already running" when it is. ``audience``: also the
    audience's listener (the only way it listens beyond 127.0.0.1)."""
    from polydemo.pipeline.workers import child_env

    if procs.alive(pid_file(settings)):
        return "already running"
    _check_port(port(settings), HOST, "the web gateway", "POLYDEMO_WEB_PORT")
    argv = [sys.executable, "-m", "polydemo.web"]
    if audience is not None:
        _check_port(audience.port, audience.listen, "the audience's listener", "POLYDEMO_WEB_AUDIENCE_PORT")
        argv += ["--audience", "--listen", audience.listen, "--max-audience", str(audience.max_users)]
    procs.spawn(argv, log_file(settings), pid_file(settings), env=child_env(settings))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(settings, timeout=0.5):
            return "started"
        if not procs.alive(pid_file(settings)):
            raise ServiceStartError(
                "the web gateway exited while starting",
                hint=f"its log: {log_file(settings)}",
                details=procs.tail(log_file(settings), 8),
            )
        time.sleep(0.1)
    procs.stop(pid_file(settings), signal.SIGTERM, 5, with_descendants=False)
    raise ServiceStartError(
        f"the web gateway did not answer on {url(settings)} within {timeout:.0f}s",
        hint=f"its log: {log_file(settings)}",
        details=procs.tail(log_file(settings), 8),
    )


def stop(settings: Settings, timeout: float = 10.0) -> str:
    """SIGTERM the gateway, by its pid: only it (a projector started from the page is the stack's, not its own)."""
    return procs.stop(pid_file(settings), signal.SIGTERM, timeout, with_descendants=False)


def _bind(host: str, p: int) -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP; without it every answer
    # waited ~40 ms for the client's delayed ACK (Nagle), measured: /api/health p50 44 ms against 4 ms
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, p))
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings | None = None, audience: AudienceOptions | None = None) -> int:
    """Run the gateway in this process until SIGTERM/SIGINT (uvicorn handles both): the presenter's listener on
    127.0.0.1 and, with ``audience``, the audience's on its address."""
    import uvicorn

    from polydemo.web.server import default_app

    settings = settings or Settings.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Connect request, every second: noise
    app = default_app(settings, audience=audience)
    sockets = [_bind(HOST, port(settings))]
    log = logging.getLogger("polydemo.web")
    log.info("polydemo web: listening on %s (the presenter's: everything)", url(settings))
    if audience is not None:
        sockets.append(_bind(audience.listen, audience.port))
        log.info(
            "polydemo web: listening on http://%s:%d (the audience's: the join page and its API)",
            audience.listen,
            audience.port,
        )
    # websockets-sansio: uvicorn's WebSocket implementation over `websockets` (the legacy one is deprecated in 0.54)
    # keep-alive 30 s (uvicorn's default is 5): a phone that taps every few seconds keeps its connection, and a
    # client never races the server closing an idle one under it
    # graceful shutdown at most 3 s: an open tab's WebSocket never ends by itself, and `down` must not wait for it
    config = uvicorn.Config(
        app,
        log_level="info",
        ws="websockets-sansio",
        lifespan="on",
        timeout_keep_alive=30,
        timeout_graceful_shutdown=3,
    )
    uvicorn.Server(config).run(sockets=sockets)
    return 0


def audience_status(settings: Settings) -> dict | None:
    """The audience session as the running gateway has it (GET /api/audience); None when it does not answer."""
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url(settings)}/api/audience", timeout=5) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
