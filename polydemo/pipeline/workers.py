"""Start, stop, kill and inspect the pipeline processes (host processes in both runtimes)."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from dataclasses import asdict, dataclass

from polydemo import procs
from polydemo.config import Settings
from polydemo.errors import PolydemoError
from polydemo.pipeline.projector import group_id, status_file

PROJECTOR_NAMES = ("graph", "cache", "analytics")
WORKERS = (*PROJECTOR_NAMES, "relay")
OPTIONAL = ("wtf",)  # optional read models: `projector add|remove`, never started by `up`
ALL_WORKERS = (*WORKERS, *OPTIONAL)


def _check(name: str) -> None:
    if name not in ALL_WORKERS:
        raise PolydemoError(f"unknown projector {name!r}", hint=f"projectors are: {', '.join(ALL_WORKERS)}")


def running_optional(settings: Settings) -> list[str]:
    """The optional projectors whose process is alive now."""
    return [n for n in OPTIONAL if procs.alive(pid_file(settings, n))]


def add(settings: Settings, name: str) -> str:
    """Start an optional read model. A new one has no committed offset, so it replays from the start of the
    (compacted) topics: it fills from history, then keeps up live."""
    if name not in OPTIONAL:
        raise PolydemoError(f"{name!r} is not an optional projector", hint=f"optional ones: {', '.join(OPTIONAL)}")
    return start(settings, name)


def remove(settings: Settings, name: str, stores) -> str:
    """Stop an optional read model and delete its consumer group and its keys (``stores``: a ``Stores``)."""
    if name not in OPTIONAL:
        raise PolydemoError(f"{name!r} is not an optional projector", hint=f"optional ones: {', '.join(OPTIONAL)}")
    stopped = stop(settings, name)
    groups = stores.kafka.delete_groups([group_id(settings, name)])
    keys = stores.cache.clear_who_to_follow()
    with contextlib.suppress(OSError):
        status_file(settings, name).unlink()
    return f"{stopped}; consumer group {'deleted' if groups else 'absent'}; {keys} key(s) deleted"


def pid_file(settings: Settings, name: str):
    return settings.run_dir / f"projector-{name}.pid"


def child_env(settings: Settings) -> dict[str, str]:
    """The settings a worker process needs, as POLYDEMO_* variables (it rebuilds Settings from them)."""
    env = {
        "POLYDEMO_HOME": str(settings.home),
        "POLYDEMO_CACHE": str(settings.cache),
        "POLYDEMO_PG_PASSWORD": settings.pg_password,
        "POLYDEMO_NEO4J_PASSWORD": settings.neo4j_password,
        "PYTHONUNBUFFERED": "1",
        "POLYDEMO_PORT_OFFSET": "0",
    }
    for name, port in {**settings.ports, **settings.extra_ports}.items():
        env[f"POLYDEMO_{name.upper()}_PORT"] = str(port)
    return env


def start(settings: Settings, name: str) -> str:
    _check(name)
    if procs.alive(pid_file(settings, name)):
        return "already running"
    procs.spawn(
        [sys.executable, "-m", "polydemo.pipeline.worker", name],
        settings.log_file(f"projector-{name}"),
        pid_file(settings, name),
        env=child_env(settings),
    )
    return "started"


def stop(settings: Settings, name: str, timeout: float = 15.0) -> str:
    _check(name)
    return procs.stop(pid_file(settings, name), signal.SIGTERM, timeout)


def kill(settings: Settings, name: str) -> str:
    _check(name)
    return "killed" if procs.kill9(pid_file(settings, name)) else "not running"


@dataclass
class WorkerStatus:
    name: str
    pid: int | None
    running: bool
    state: str
    processed: int | None
    last_error: str | None
    group: str | None

    def as_dict(self) -> dict:
        return asdict(self)


def status(settings: Settings, name: str) -> WorkerStatus:
    proc = procs.alive(pid_file(settings, name))
    data = {}
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(status_file(settings, name).read_text())
    state = data.get("state", "stopped") if proc else "stopped"
    if proc and _stopped(proc):
        state = "paused"  # SIGSTOP from a drill: its status file cannot say so itself
    elif proc and name == "relay":
        state = "running"  # the relay keeps no status file; its log says what it does
    elif proc and data.get("pid") != proc.pid:
        state, data = "starting", {}
    return WorkerStatus(
        name,
        proc.pid if proc else None,
        proc is not None,
        state,
        data.get("processed"),
        data.get("last_error"),
        group_id(settings, name) if name in (*PROJECTOR_NAMES, *OPTIONAL) else None,
    )


def start_all(settings: Settings) -> dict[str, str]:
    return {n: start(settings, n) for n in WORKERS}


def stop_all(settings: Settings) -> dict[str, str]:
    return {n: stop(settings, n) for n in ALL_WORKERS}


def wait_running(settings: Settings, names=WORKERS, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [status(settings, n) for n in names]
        if all(s.running and (s.name == "relay" or s.state in ("running", "retrying")) for s in states):
            return
        time.sleep(0.2)


def _stopped(proc) -> bool:
    import psutil

    try:
        return proc.status() == psutil.STATUS_STOPPED
    except psutil.Error:
        return False
