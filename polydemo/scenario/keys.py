"""Presenter keys in ``--step`` mode: Enter/space next, ``p`` pause/resume the pacing, ``s`` skip the current
wait, ``c`` show/hide the statements each step ran (``--show-commands`` sets where it starts), ``q`` quit
(what the scenario stopped is restarted, as with Ctrl-C).

:class:`Pacer` gives the runner its ``sleep``, ``clock`` and ``wait_key`` (the pacing seam); it reads keys
from a key reader: :class:`TtyKeys` on the terminal (cbreak mode, restored on exit), or any object with
``get(timeout) -> str | None`` (the unit tests pass a scripted one).
"""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

from polydemo.scenario.runner import SkipWait

FOOTER = "⏎/space next · p pause · s skip the wait · c commands · q quit"
NEXT_KEYS = ("\n", "\r", " ")
SLICE_S = 0.05  # how often a wait looks at the keys


class Keys(Protocol):
    def get(self, timeout: float) -> str | None:
        """The next key pressed within ``timeout`` seconds, or None."""
        ...


class TtyKeys:
    """Keys from the terminal, in cbreak mode (no echo, no line buffering; Ctrl-C still interrupts)."""

    def __init__(self, stream: Any = None):
        self.stream = stream if stream is not None else sys.stdin
        self.fd = self.stream.fileno()
        self.saved: Any = None

    def __enter__(self) -> TtyKeys:
        import termios
        import tty

        self.saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        return self

    def __exit__(self, *exc) -> None:
        self.restore()

    def restore(self) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
            self.saved = None

    def get(self, timeout: float) -> str | None:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return None
        data = os.read(self.fd, 1)
        return data.decode("utf-8", "replace") if data else None


class Pacer:
    """The runner's sleep/clock/wait_key, driven by keys; the clock leaves out the time spent paused."""

    def __init__(
        self,
        keys: Keys,
        clock: Callable[[], float] = time.perf_counter,
        on_change: Callable[[], Any] | None = None,
        commands: bool = False,
    ):
        self.keys, self.real_clock = keys, clock
        self.commands = commands  # the scenario panel shows the statements each step ran (the `c` key)
        self.paused = False
        self.paused_total = 0.0
        self.paused_at: float | None = None
        self.on_change = on_change or (lambda: None)

    def clock(self) -> float:
        now = self.real_clock()
        held = (now - self.paused_at) if self.paused_at is not None else 0.0
        return now - self.paused_total - held

    def footer(self) -> str:
        return ("⏸ paused (p resumes) · " if self.paused else "") + FOOTER + (" (shown)" if self.commands else "")

    def _key(self, key: str | None) -> str | None:
        """Act on the keys that mean the same everywhere (p, q); return the key."""
        if key in ("q", "Q"):
            self._set_paused(False)
            raise KeyboardInterrupt("q pressed")
        if key in ("p", "P"):
            self._set_paused(not self.paused)
        if key in ("c", "C"):
            self.commands = not self.commands
            self.on_change()
        return key

    def _set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        now = self.real_clock()
        if paused:
            self.paused_at = now
        else:
            self.paused_total += now - (self.paused_at or now)
            self.paused_at = None
        self.paused = paused
        self.on_change()

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of pacing: paused time does not count; ``s`` ends it (raises SkipWait)."""
        end = self.clock() + seconds
        while True:
            left = end - self.clock()
            if left <= 0 and not self.paused:
                return
            key = self._key(self.keys.get(SLICE_S if self.paused else min(SLICE_S, max(left, 0.0))))
            if key in ("s", "S"):
                self._set_paused(False)
                raise SkipWait()

    def wait_key(self, prompt: str) -> None:
        """A ``pause`` step: until Enter or space (or ``s``); ``q`` quits."""
        while True:
            key = self._key(self.keys.get(SLICE_S))
            if key in NEXT_KEYS or key in ("s", "S"):
                self._set_paused(False)
                return
