"""The live dashboard loop: collect a frame, render it, draw it, at a steady rate (no servers in here).

``watch`` runs it on the terminal; ``bench/dashboard.py`` runs the same loop on an off-screen console
to measure its CPU cost; the scenario runner's dashboard presenter draws with the same pieces.
"""

from __future__ import annotations

import time
from collections import deque

from polydemo.dashboard.collector import Collector
from polydemo.dashboard.model import Snapshot
from polydemo.dashboard.render import render

CHANGES_OVER_S = 3.0  # new rows stay marked, and lag arrows compare, over this many seconds


def next_frame(collector: Collector, history: deque, last: Snapshot | None) -> tuple[Snapshot, Snapshot | None]:
    """Collect a frame; return it and the frame to show changes against (about CHANGES_OVER_S earlier)."""
    snap = collector.collect(last)
    history.append(snap)
    while len(history) > 1 and snap.taken_at - history[1].taken_at >= CHANGES_OVER_S:
        history.popleft()
    return snap, baseline(history, snap)


def baseline(history: deque, snap: Snapshot) -> Snapshot | None:
    base = history[0] if history else None
    return base if base is not None and base is not snap else None


def live_loop(
    collector: Collector, console, hz: float, seconds: float | None = None, history: deque | None = None
) -> Snapshot | None:
    """Full-screen Live display at ``hz`` frames per second until Ctrl-C (or ``seconds``); returns the last frame.

    One collect and one render per frame, drawn once (no auto-refresh thread drawing in between).
    """
    from rich.live import Live

    history = history if history is not None else deque()
    period = 1.0 / hz
    last = None
    end = time.monotonic() + seconds if seconds is not None else None
    with Live(console=console, screen=True, auto_refresh=False, redirect_stdout=False, redirect_stderr=False) as live:
        while end is None or time.monotonic() < end:
            t0 = time.monotonic()
            snap, base = next_frame(collector, history, last)
            last = snap
            width, height = console.size
            live.update(render(snap, base, width=width, height=height), refresh=True)
            time.sleep(max(0.0, period - (time.monotonic() - t0)))
    return last
