"""The gateway as a service of the stack: started, stopped and inspected like the projectors (a host process with
its pid file in the run directory and its log beside the others), on 127.0.0.1 only.

``start`` refuses a taken port in one line and waits until ``/api/health`` answers (or the process died: then the
last lines of its log say why); ``serve`` is what the spawned process runs (uvicorn, in this process).
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from polydemo import procs
from polydemo.config import Settings
from polydemo.errors import PortInUseError, ServiceStartError

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


def start(settings: Settings, timeout: float = START_TIMEOUT_S) -> str:
    """Spawn the gateway (``python -m polydemo.web``); "already running" when it is."""
    from polydemo.pipeline.workers import child_env

    if procs.alive(pid_file(settings)):
        return "already running"
    p = port(settings)
    if not procs.port_free(p, HOST):
        owner = procs.port_owner(p)
        raise PortInUseError(
            f"port {p} for the web gateway is already in use{' by ' + owner if owner else ''}",
            hint="stop that process, or choose another port with POLYDEMO_WEB_PORT=<port> "
            "(or shift every port with POLYDEMO_PORT_OFFSET)",
        )
    procs.spawn([sys.executable, "-m", "polydemo.web"], log_file(settings), pid_file(settings), env=child_env(settings))
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


def serve(settings: Settings | None = None) -> int:
    """Run the gateway in this process until SIGTERM/SIGINT (uvicorn handles both)."""
    import uvicorn

    from polydemo.web.server import default_app

    settings = settings or Settings.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Connect request, every second: noise
    app = default_app(settings)
    config = uvicorn.Config(app, host=HOST, port=port(settings), log_level="info", ws="websockets", lifespan="on")
    uvicorn.Server(config).run()
    return 0
