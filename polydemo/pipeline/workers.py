"""Start, stop, kill and inspect the pipeline processes (host processes in both runtimes)."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from dataclasses import asdict, dataclass, field

from polydemo import procs
from polydemo.config import Settings
from polydemo.errors import PolydemoError
from polydemo.pipeline.loop import client_id, group_id, instance_file, status_file
from polydemo.stores.kafka import GroupMember

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


MAX_INSTANCES = 6  # the partitions of the keyed topics (pipeline/topics.py PARTITIONS): more would sit idle


def pid_file(settings: Settings, name: str, instance: int = 1):
    """Instance 1 is ``run/projector-<name>.pid`` (as before scaling existed); instance N ``projector-<name>-N.pid``."""
    return instance_file(settings, name, instance, "pid")


def _log_name(name: str, instance: int) -> str:
    return f"projector-{name}" if instance == 1 else f"projector-{name}-{instance}"


def instances(settings: Settings, name: str) -> list[int]:
    """The instance numbers of projector ``name`` whose process is alive now (1 first)."""
    found = {1} if procs.alive(pid_file(settings, name)) else set()
    for path in settings.run_dir.glob(f"projector-{name}-*.pid"):
        tail = path.stem.removeprefix(f"projector-{name}-")
        if tail.isdigit() and int(tail) > 1 and procs.alive(path):
            found.add(int(tail))
    return sorted(found)


def scale(settings: Settings, name: str, count: int, timeout: float = 15.0) -> dict[int, str]:
    """Run exactly ``count`` instances of projector ``name`` in its one consumer group: start the missing
    ones (numbered 1..count) and stop those numbered above ``count``, each by its own pid. Kafka then moves
    partitions between them (a rebalance). Returns what happened to each instance touched."""
    _check(name)
    if name == "relay":
        raise PolydemoError(
            "the relay cannot be scaled: it follows one change stream, and a second copy would publish each post twice",
            hint="scale a projector: " + ", ".join((*PROJECTOR_NAMES, *OPTIONAL)),
        )
    if not 1 <= count <= MAX_INSTANCES:
        raise PolydemoError(
            f"{count} instances: the count must be 1 to {MAX_INSTANCES}",
            hint=f"the topics have {MAX_INSTANCES} partitions, so more instances would sit idle; "
            f"`polydemo projector stop {name}` stops them all",
        )
    outcome: dict[int, str] = {}
    for i in instances(settings, name):
        if i > count:
            outcome[i] = procs.stop(pid_file(settings, name, i), signal.SIGTERM, timeout)
            with contextlib.suppress(OSError):
                status_file(settings, name, i).unlink()
    for i in range(1, count + 1):
        started = start(settings, name, i)
        if started == "started":
            outcome[i] = started
    return outcome


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


def start(settings: Settings, name: str, instance: int = 1) -> str:
    _check(name)
    if procs.alive(pid_file(settings, name, instance)):
        return "already running"
    argv = [sys.executable, "-m", "polydemo.pipeline.process", name]
    procs.spawn(
        [*argv, str(instance)] if instance > 1 else argv,
        settings.log_file(_log_name(name, instance)),
        pid_file(settings, name, instance),
        env=child_env(settings),
    )
    return "started"


def stop(settings: Settings, name: str, timeout: float = 15.0) -> str:
    """Stop every instance of projector ``name`` (SIGTERM, each by its pid); the outcome of instance 1."""
    _check(name)
    extra = [i for i in instances(settings, name) if i > 1]
    for i in extra:
        procs.stop(pid_file(settings, name, i), signal.SIGTERM, timeout)
        with contextlib.suppress(OSError):
            status_file(settings, name, i).unlink()  # an extra instance's status goes with it
    outcome = procs.stop(pid_file(settings, name), signal.SIGTERM, timeout)
    if extra:
        outcome += f" (and {len(extra)} more instance{'s' if len(extra) > 1 else ''})"
    return outcome


def kill(settings: Settings, name: str) -> str:
    """SIGKILL every instance of projector ``name``."""
    _check(name)
    killed = [i for i in instances(settings, name) if procs.kill9(pid_file(settings, name, i))]
    if not killed:
        return "not running"
    return "killed" + (f" ({len(killed)} instances)" if len(killed) > 1 else "")


@dataclass
class WorkerStatus:
    name: str
    pid: int | None
    running: bool
    state: str
    processed: int | None
    last_error: str | None
    group: str | None
    instance: int = 1
    lag_history: list[list[float]] = field(default_factory=list)  # [[second, seconds behind], ...] (last minute)
    assignment: list[list] = field(default_factory=list)  # [[topic, partition], ...] it owns now (running only)

    def as_dict(self) -> dict:
        return asdict(self)


def status(settings: Settings, name: str, instance: int = 1) -> WorkerStatus:
    proc = procs.alive(pid_file(settings, name, instance))
    data = {}
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(status_file(settings, name, instance).read_text())
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
        instance,
        list(data.get("lag_history") or []),
        list(data.get("assignment") or []) if proc else [],
    )


def members(settings: Settings, name: str) -> list[GroupMember]:
    """The running instances of projector ``name`` and the partitions each owns now, as each one last wrote
    in its status file (at most half a second old). Used instead of the admin API's DescribeGroups, which
    aborts the asking process when the group coordinator's broker dies (the broker drills do exactly that)."""
    return [
        GroupMember(client_id(name, w.instance), "", tuple(sorted((str(t), int(p)) for t, p in w.assignment)))
        for w in statuses(settings, name)
        if w.running
    ]


def statuses(settings: Settings, name: str) -> list[WorkerStatus]:
    """Instance 1 (running or not) and every other instance that is running."""
    return [status(settings, name, i) for i in sorted({1, *instances(settings, name)})]


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
