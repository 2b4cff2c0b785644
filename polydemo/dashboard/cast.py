"""An asciicast v2 recording (https://docs.asciinema.org/manual/asciicast/v2/) of the live display.

:class:`CastWriter` is a file-like object a Rich Console writes into: what is written between two
``flush()`` calls (a Console flushes once per print, or once per ``with console:`` block) becomes one
``[t, "o", data]`` event, ``t`` in seconds since the recording began, from an injected clock.
``marker(label)`` adds a ``[t, "m", label]`` event (asciinema-player can pause on markers).

No terminal is needed: :func:`offscreen_console` is a Console of the cast's size that draws into it.

A frame is recorded as a terminal would receive it from a program that redraws only what changed (as
curses does): :func:`frame_into` compares the frame, cell by cell, with the screen the last one left
(``CastWriter.screen``) and writes, for each row that differs, a cursor move (``ESC [ row ; col H``) and
the changed cells with their styles. The first frame clears the screen and draws every row; a frame
that changes nothing writes no event. A dashboard frame is about 11 kB drawn whole, a few hundred bytes
as a change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import IO, Any

from rich.color import ColorSystem
from rich.console import Console, Group
from rich.segment import Segment
from rich.style import Style

Cell = tuple[str, Style | None]


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
        self.screen: list[list[Cell]] | None = None  # what the player shows now (frame_into diffs against it)
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
    """One full-screen frame; ``below`` is printed under it. Into a :class:`CastWriter`: one event with only
    what changed since the last frame (nothing when nothing did); into anything else: cleared and drawn whole."""
    cast = console.file
    if not isinstance(cast, CastWriter):
        from rich.control import Control

        with console:  # one buffer, so one write and one flush
            console.control(Control.home(), Control.clear(), Control.home())
            console.print(renderable)
            if below is not None:
                console.print(below, end="")
        return
    parts = [renderable] if below is None else [renderable, below]
    options = console.options.update(width=cast.width, height=None)
    lines = console.render_lines(Group(*parts), options, pad=True, new_lines=False)[: cast.height]
    if console.no_color:
        lines = [list(Segment.remove_color(line)) for line in lines]
    screen = [[(ch, seg.style) for seg in line if not seg.control for ch in seg.text] for line in lines]
    data = screen_changes(cast.screen, screen, COLOR_SYSTEMS.get(console.color_system or ""))
    cast.screen = screen
    if data:
        cast.write(data)
        cast.flush()


COLOR_SYSTEMS = {
    "standard": ColorSystem.STANDARD,
    "256": ColorSystem.EIGHT_BIT,
    "truecolor": ColorSystem.TRUECOLOR,
    "windows": ColorSystem.WINDOWS,
}


def screen_changes(old: list[list[Cell]] | None, new: list[list[Cell]], color_system: ColorSystem | None) -> str:
    """The escape codes and text that turn screen ``old`` into ``new`` (None: a cleared screen first).

    Per row: a cursor move to the first cell that differs and the cells up to the last one that differs,
    each run of one style written with its SGR codes (``Style.render``), then an erase to the end of the row
    when the new row is narrower. Rows that ``old`` had beyond ``new``'s last are erased."""
    out: list[str] = []
    if old is None:
        out.append("\x1b[H\x1b[2J")
        old = []
    for row, cells in enumerate(new):
        before = old[row] if row < len(old) else []
        if cells == before:
            continue
        start = 0
        limit = min(len(cells), len(before))
        while start < limit and cells[start] == before[start]:
            start += 1
        tail = 0
        while tail < limit - start and cells[-1 - tail] == before[-1 - tail]:
            tail += 1
        if _width(cells) != _width(before):
            tail = 0  # the common tail sits elsewhere: write the row to its end
        col = _width(cells[:start]) + 1
        out.append(f"\x1b[{row + 1};{col}H")
        out.append(_styled(cells[start : len(cells) - tail], color_system))
        if _width(cells) < _width(before):
            out.append("\x1b[K")
    for row in range(len(new), len(old)):
        out.append(f"\x1b[{row + 1};1H\x1b[2K")
    return "".join(out)


def _width(cells: list[Cell]) -> int:
    from rich.cells import cell_len

    return sum(cell_len(ch) for ch, _ in cells)


def _styled(cells: list[Cell], color_system: ColorSystem | None) -> str:
    out: list[str] = []
    i = 0
    while i < len(cells):
        style = cells[i][1]
        j = i
        while j < len(cells) and cells[j][1] == style:
            j += 1
        text = "".join(ch for ch, _ in cells[i:j])
        out.append(style.render(text, color_system=color_system) if style else text)
        i = j
    return "".join(out)


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
