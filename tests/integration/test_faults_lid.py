"""Issue 27, drill 1: the lid closes. Every process of the stack (the seven servers, their children, the
projectors and the relay) is frozen with SIGSTOP for longer than every session and replication timeout there
is (Postgres' wal_sender_timeout, 60 s, is the longest; Kafka's consumer sessions 10 s, Connect's worker
group 6 s, the KRaft broker's 3 s), then SIGCONT. The stack must recover by itself: no FAILED connector,
projectors back in their groups, every write (before and after) in every store exactly once.

The test prints its figures (``[lid] …``); docs/faults.md keeps the table."""

from __future__ import annotations

import contextlib
import json
import signal
import time
import uuid

import psutil

from polydemo import load, procs, seed
from polydemo.dashboard.collector import Collector
from polydemo.pipeline import connector, lag, workers
from polydemo.runtime.base import Runtime

from .conftest import wait_for
from .test_drills import projected

LID_S = 75.0
BURST = 400


def stack_processes(runtime: Runtime) -> list[psutil.Process]:
    """Every process the stack runs: each server with its children, each pipeline worker."""
    settings = runtime.settings
    found: list[psutil.Process] = []
    files = [settings.pid_file(s) for s in runtime.all_services()]
    files += [workers.pid_file(settings, n, i) for n in workers.WORKERS for i in workers.instances(settings, n)]
    for path in files:
        proc = procs.alive(path)
        if proc is not None:
            found += [proc, *procs.descendants(proc)]
    return found


def walsender_timeouts(settings) -> int:
    log = settings.home / "logs" / "postgres.log"
    return log.read_text(errors="replace").count("terminating walsender process due to replication timeout")


def test_lid_closed_past_every_timeout_the_stack_recovers_by_itself(stack, runtime):
    assert seed.wait_converged(stack, 60)
    prefix = f"lid{uuid.uuid4().hex[:4]}"
    timeouts_before = walsender_timeouts(stack)
    before = load.signup_burst(stack, BURST, f"{prefix}a", batch=50)  # committed just before the lid closes

    frozen = stack_processes(runtime)
    assert len(frozen) >= 11, frozen  # 7 servers (and children) and 4 workers
    closed_at = time.monotonic()
    try:
        for p in frozen:
            with contextlib.suppress(psutil.NoSuchProcess):  # a Postgres backend may end between list and signal
                p.send_signal(signal.SIGSTOP)
        time.sleep(LID_S)  # the lid stays closed this long on purpose: past every timeout
    finally:
        for p in frozen:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(signal.SIGCONT)
    opened_at = time.monotonic()
    figures: dict[str, object] = {"lid_closed_s": round(opened_at - closed_at, 1), "processes_frozen": len(frozen)}

    after = load.signup_burst(stack, BURST, f"{prefix}b", batch=50)  # the speaker signs people up at once
    figures["first_writes_after_open_s"] = round(time.monotonic() - opened_at, 1)

    seen_states: set[str] = set()

    def recovered() -> bool:
        doc = connector.status(stack) or {}
        states = {doc.get("connector", {}).get("state", "?"), *(t.get("state", "?") for t in doc.get("tasks", []))}
        seen_states.update(states)
        if states != {"RUNNING"}:
            return False
        if any(workers.status(stack, n).state != "running" for n in workers.PROJECTOR_NAMES):
            return False
        bursts = (f"{prefix}a", f"{prefix}b")
        return all(projected(stack, n, p)[1] == BURST for n in workers.PROJECTOR_NAMES for p in bursts)

    wait_for(recovered, timeout=180, interval=0.5, what="the stack to recover by itself after the lid opened")
    figures["recovered_after_open_s"] = round(time.monotonic() - opened_at, 1)
    figures["connector_states_seen"] = sorted(seen_states)
    assert "FAILED" not in seen_states, seen_states
    assert walsender_timeouts(stack) > timeouts_before, "the freeze did not outlast Postgres' wal_sender_timeout"
    figures["walsender_timed_out"] = True

    with Collector(stack, timeout=2.0) as col:
        snap = col.collect()
        assert [s.name for s in snap.services if not s.ok] == [], snap.services
    assert lag.projector_lag(stack) == {n: 0 for n in workers.PROJECTOR_NAMES} or seed.wait_converged(stack, 30)
    assert seed.wait_converged(stack, 60)
    for name in workers.PROJECTOR_NAMES:
        for p, ids in ((f"{prefix}a", before), (f"{prefix}b", after)):
            assert projected(stack, name, p) == (len(ids), len(ids)), (name, p)
    figures.update(acknowledged=len(before) + len(after), lost=0, duplicates=0)
    print(f"\n[lid] {json.dumps(figures)}")
