"""An asciicast v2 recording (https://docs.asciinema.org/manual/asciicast/v2/) of the live display.

:class:`CastWriter` is a file-like object a Rich Console writes into: what is written between two
``flush()`` calls (a Console flushes once per print, or once per ``with console:`` block) becomes one
``[t, "o", data]`` event, ``t`` in seconds since the recording began, from an injected clock.
``marker(label)`` adds a ``[t, "m", label]`` event (asciinema-player can pause on markers).

No terminal is needed: :func:`offscreen_console` is a Console of the cast's size that draws into it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import IO, Any

from rich.console import Console


class CastWriter:
    """Write an asciicast v2 stream into ``out`` (an open text file); the header is written at once."""

    def __init__(
        self,
        out: IO[str],
        width: int,
        height: int,
        title: str = "",
        clock: Callable[[], float] = time.monotonic,
        timestamp: float | None = None,
    ):
        self.out, self.width, self.height, self.clock = out, width, height, clock
        self.t0 = clock()
        self.last = 0.0
        self.pending: list[str] = []
        self.events = 0
        self.markers = 0
        self.closed = False
        header: dict[str, Any] = {
            "version": 2,
            "width": width,
            "height": height,
            "timestamp": int(time.time() if timestamp is None else timestamp),
            "title": title,
            "env": {"TERM": "xterm-256color"},
        }
        self.out.write(json.dumps(header) + "\n")

    # the file-like side, for a Rich Console
    def write(self, data: str) -> int:
        self.pending.append(data)
        return len(data)

    def flush(self) -> None:
        data = "".join(self.pending)
        self.pending.clear()
        if data:
            # What a terminal's line discipline does (onlcr): the player needs a carriage return too.
            self._event("o", data.replace("\r\n", "\n").replace("\n", "\r\n"))

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    # the cast side
    def marker(self, label: str) -> None:
        self.flush()
        self._event("m", label)
        self.markers += 1

    def now(self) -> float:
        """Seconds since the recording began, never less than the last event's."""
        self.last = max(self.last, self.clock() - self.t0)
        return self.last

    def _event(self, code: str, data: str) -> None:
        self.out.write(json.dumps([round(self.now(), 6), code, data]) + "\n")
        self.events += 1

    def close(self) -> None:
        if not self.closed:
            self.flush()
            self.out.flush()
            self.closed = True


def offscreen_console(cast: CastWriter, no_color: bool = False, theme: Any = None) -> Console:
    """A Console of the cast's size that draws into it, whether or not stdout is a terminal."""
    return Console(
        file=cast,  # type: ignore[arg-type]
        width=cast.width,
        height=cast.height,
        force_terminal=True,
        color_system=None if no_color else "256",
        no_color=no_color,
        theme=theme,
        highlight=False,
        legacy_windows=False,
        _environ={},
    )


def frame_into(console: Console, renderable: Any, below: Any = None) -> None:
    """One full-screen frame (cleared, from the top left) as one event; ``below`` is printed under it."""
    from rich.control import Control

    with console:  # one buffer, so one write and one flush: one "o" event
        console.control(Control.home(), Control.clear(), Control.home())
        console.print(renderable)
        if below is not None:
            console.print(below, end="")


def parse(text: str) -> tuple[dict, list[list]]:
    """A cast's header and events (for the tests and ``scenario run --record`` checks)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("empty cast")
    header = json.loads(lines[0])
    return header, [json.loads(line) for line in lines[1:]]


def problems(text: str) -> list[str]:
    """What makes a cast invalid (empty when it is a well-formed asciicast v2 stream)."""
    try:
        header, events = parse(text)
    except ValueError as exc:
        return [f"not JSON lines: {exc}"]
    out = []
    if header.get("version") != 2:
        out.append(f"version is {header.get('version')!r}, not 2")
    for key in ("width", "height"):
        if not isinstance(header.get(key), int) or header[key] <= 0:
            out.append(f"{key} is {header.get(key)!r}")
    last = 0.0
    for i, ev in enumerate(events):
        if not (
            isinstance(ev, list) and len(ev) == 3 and isinstance(ev[0], int | float) and ev[1] in ("o", "i", "m", "r")
        ):
            out.append(f"event {i + 1} is malformed: {str(ev)[:80]}")
            continue
        if ev[0] < last:
            out.append(f"event {i + 1} goes back in time ({ev[0]} < {last})")
        last = ev[0]
    return out
