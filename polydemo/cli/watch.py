"""Dashboard commands: watch (the live dashboard) and snapshot (one frame, or its data as JSON)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import deque
from pathlib import Path

import typer

from polydemo.cli.context import command, demo, state, with_json
from polydemo.console import FRAME_SUFFIXES
from polydemo.errors import ExitStatus, PolydemoError

RECORD_HELP = "Save the final frame to FILE.svg or FILE.html (100 columns wide)."
RECORD_SUFFIXES = FRAME_SUFFIXES
PLAIN_SIZE = (100, 30)  # frame size when stdout is not a terminal (COLUMNS/LINES override)


def register(app: typer.Typer) -> None:
    command(app, "watch")(watch)
    command(app, "snapshot")(snapshot)


def watch(
    ctx: typer.Context,
    refresh: float = typer.Option(4.0, "--refresh", min=0.1, max=30.0, metavar="HZ", help="Frames per second."),
    once: bool = typer.Option(False, "--once", help="Print one frame and exit."),
    record: Path | None = typer.Option(None, "--record", metavar="FILE", help=RECORD_HELP),
) -> None:
    """The live dashboard: every store, Kafka offsets and lag, the connector, the projectors, the event feed.

    Full screen on a terminal (Ctrl-C quits); otherwise a plain frame every 1/HZ seconds, or once with --once.
    """
    from polydemo.dashboard.live import baseline, live_loop, next_frame
    from polydemo.dashboard.render import render

    st = state(ctx)
    _check_record(record)
    out = st.env.out
    size = _plain_size(st)
    collector = demo(ctx).collector()
    period = 1.0 / refresh
    history: deque = deque()
    last = None
    live_mode = out.is_terminal and not once
    restore = _stop_on_sigterm()
    try:
        if live_mode:
            last = live_loop(collector, out, refresh, history=history)
        else:
            while True:
                t0 = time.monotonic()
                snap, base = next_frame(collector, history, last)
                if last is not None:
                    out.print()
                last = snap
                out.print(render(snap, base, width=size[0], height=size[1]), crop=True)
                out.file.flush()
                if once:
                    break
                time.sleep(max(0.0, period - (time.monotonic() - t0)))
    except KeyboardInterrupt:  # Ctrl-C is how the live view ends: the terminal is restored and the summary printed
        pass
    finally:
        restore()
        stuck = collector.close()
    last = history[-1] if history else None  # also when Ctrl-C interrupted the live loop
    if record is not None and last is not None:
        _record(st, record, last, baseline(history, last))
    _exit_if_stuck(stuck)


def snapshot(
    ctx: typer.Context,
    json_out: bool = typer.Option(False, "--json", help="Print the snapshot's data (JSON) instead of a frame."),
    record: Path | None = typer.Option(None, "--record", metavar="FILE", help=RECORD_HELP),
) -> None:
    """Print one dashboard frame (or, with --json, the data behind it) and exit."""
    from polydemo.dashboard.render import render

    st = with_json(ctx, json_out)
    _check_record(record)
    frame = demo(ctx).snapshot()
    snap, stuck = frame.snapshot, frame.stuck
    if st.env.json:
        st.env.emit_json(snap.to_dict())
    else:
        width, height = st.env.out.size if st.env.out.is_terminal else _plain_size(st)
        st.env.out.print(render(snap, width=width, height=max(height, 30)), crop=True)
    if record is not None:
        _record(st, record, snap, None)
    _exit_if_stuck(stuck)


# ---------------------------------------------------------------- helpers


def _plain_size(st) -> tuple[int, int]:
    out = st.env.out
    width = st.env.width or int(os.environ.get("COLUMNS") or 0) or PLAIN_SIZE[0]
    height = int(os.environ.get("LINES") or 0) or PLAIN_SIZE[1]
    if not out.is_terminal:
        out.width = width  # a console on a pipe defaults to 80 columns
    return width, height


def _check_record(path: Path | None) -> None:
    if path is not None and path.suffix.lower() not in RECORD_SUFFIXES:
        raise PolydemoError(
            f"cannot record to {path}: unknown format {path.suffix or '(no extension)'}",
            hint="use a file name ending in .svg or .html",
        )


def _record(st, path: Path, snap, base) -> None:
    """The frame into a fresh recording console (console.save_frame), at the plain frame's size."""
    from polydemo.console import save_frame
    from polydemo.dashboard.render import render

    width, height = PLAIN_SIZE
    save_frame(render(snap, base, width=width, height=height), path, width, height, title="polydemo watch")
    st.env.info(f"saved the frame to {path}")


def _stop_on_sigterm():
    """SIGTERM (a `timeout`, a supervisor) stops the loop like Ctrl-C does, so --record still saves the frame."""

    def stop(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)


def _exit_if_stuck(stuck: list[str]) -> None:
    """A collector blocked on a paused server would hold the interpreter's exit until the server resumes."""
    if stuck:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(ExitStatus.OK)
