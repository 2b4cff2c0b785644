"""Shared set-up for the benchmark scripts: a stack of their own (offset 10000, temp home) unless told otherwise."""

from __future__ import annotations

import os
import shutil
import tempfile


def bench_env() -> tuple[str, bool]:
    """Point POLYDEMO_* at a benchmark stack. Returns (home, owned): owned means we made it and remove it."""
    if os.environ.get("POLYDEMO_HOME"):
        return os.environ["POLYDEMO_HOME"], False
    home = tempfile.mkdtemp(prefix="polydemo-bench-")
    os.chmod(home, 0o755)
    os.environ["POLYDEMO_HOME"] = home
    os.environ.setdefault("POLYDEMO_PORT_OFFSET", "10000")
    os.environ["POLYDEMO_RUNTIME"] = "local"
    return home, True


def cleanup(home: str, owned: bool) -> None:
    if owned:
        shutil.rmtree(home, ignore_errors=True)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


def offscreen(width: int = 100, height: int = 30):
    """A terminal-sized Rich console that writes nowhere: what a frame costs to draw, without a terminal."""
    import io

    from rich.console import Console

    return Console(file=io.StringIO(), width=width, height=height, force_terminal=True, color_system="truecolor")


def time_frames(collector, prev, frames: int):
    """``frames`` dashboard frames, each collected from the stack then rendered at 100x30 off-screen, 50 ms
    apart; returns the last snapshot and the collect, render and collect+render times (ms) of each frame."""
    import io
    import time

    from polydemo.dashboard.render import render

    console = offscreen()
    collect_ms: list[float] = []
    render_ms: list[float] = []
    total_ms: list[float] = []
    for _ in range(frames):
        t0 = time.perf_counter()
        snap = collector.collect(prev)
        t1 = time.perf_counter()
        console.file = io.StringIO()
        console.print(render(snap, prev, width=100, height=30))
        t2 = time.perf_counter()
        collect_ms.append((t1 - t0) * 1000)
        render_ms.append((t2 - t1) * 1000)
        total_ms.append((t2 - t0) * 1000)
        prev = snap
        time.sleep(0.05)
    return prev, collect_ms, render_ms, total_ms
