"""Showing a scenario run: one line per step, or the live dashboard with a scenario panel."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.text import Text

from polydemo.console import Environment, visible
from polydemo.scenario.runner import Presenter, RunResult, StepResult, describe

log = logging.getLogger("polydemo.scenario")

ICON = {"done": "✔", "failed": "✘", "running": "▶", "pending": "·"}


class LinePresenter(Presenter):
    def __init__(self, env: Environment, show_commands: Callable[[], bool] | None = None):
        self.env = env
        self.show_commands = show_commands or (lambda: True)  # the presenter's `c` key, in --step mode
        self.total = 0
        self.loaded: Any = None  # the Loaded scenario, from begin()

    def begin(self, loaded) -> None:
        self.loaded = loaded
        self.total = len(loaded.scenario.steps)
        self.env.info(f"[bold]{_esc(loaded.scenario.title)}[/bold] ({_esc(loaded.name)}, {self.total} steps)")

    def step_done(self, r: StepResult) -> None:
        step = self.loaded.scenario.steps[r.index]
        mark = "[ok]✔[/ok]" if r.ok else "[bad]✘[/bad]"
        self.env.err.print(
            f"[dim][{r.index + 1:>2}/{self.total}][/dim] {mark} [svc]{step.kind:<10}[/svc] "
            f"{_esc(r.message if step.kind != 'say' else '“' + r.message + '”')} "
            f"[dim]{r.seconds:.1f}s[/dim]"
        )
        if r.trace is not None:  # a trace step: the waterfall, as `polydemo trace` draws it
            from polydemo.pipeline.trace import Trace
            from polydemo.views import trace_view

            self.env.err.print(Padding(trace_view(Trace.from_dict(r.trace)), (0, 0, 0, 6)))
        for command in r.commands if self.show_commands() else ():  # --show-commands: what the step ran
            self.env.err.print(Text(f"      {visible(command)}", style="dim"), soft_wrap=True, emoji=False)
        if not r.ok and (r.expected or r.seen):
            self.env.err.print(f"      expected: {_esc(r.expected or '')}\n      seen:     {_esc(r.seen or '')}")

    def prompt(self, text: str) -> None:
        self.env.err.print(f"[warn]⏸ {_esc(text)}[/warn]")

    def end(self, result: RunResult) -> None:
        self.env.info(result_line(result, self.total))


def _esc(text: str) -> str:
    from polydemo.console import safe

    return safe(text)


KEEPS_DETAIL = ("say", "presenter_pause", "sleep")  # steps during which the last step's detail stays up
DETAIL_WIDTH = 96  # the scenario panel's inside at 100 columns


def step_detail(r: StepResult, show_commands: bool = True, width: int = DETAIL_WIDTH) -> dict | None:
    """What the scenario panel shows under the steps after ``r``: a trace step's waterfall (the same table
    as `polydemo trace`, as lines), or the statements the step ran (--show-commands)."""
    if r.trace is not None:
        from polydemo.pipeline.trace import Trace
        from polydemo.views import trace_view

        trace = Trace.from_dict(r.trace)
        table = trace_view(trace, bar_width=24)
        table.show_header = False  # the panel's subtitle says what it is
        title, table.title = f"step {r.index + 1}: {table.title} · ms from the source write", None
        return {"title": visible(str(title)), "lines": renderable_lines(table, width)}
    if r.commands and show_commands:
        lines = [Text(visible(c), style="dim") for c in r.commands]
        return {"title": f"step {r.index + 1} ran", "lines": lines}
    return None


def renderable_lines(renderable: Any, width: int) -> list[Text]:
    """A renderable as styled lines of ``width`` cells (no terminal)."""
    console = Console(width=width, file=io.StringIO(), force_terminal=True, color_system="256", _environ={})
    out = []
    for segments in console.render_lines(renderable, console.options, pad=False):
        line = Text(no_wrap=True, overflow="ellipsis")
        for seg in segments:
            if not seg.control:
                line.append(seg.text, seg.style)
        line.rstrip()
        out.append(line)
    return out


def scenario_panel_data(
    loaded, results: list[StepResult], current: int | None, caption: str | None, detail: dict | None = None
) -> dict:
    """The dashboard's scenario panel (polydemo.dashboard.render): a window of steps around the current one,
    ticked off, the caption (the narration, or what the current step does) and the last step's detail."""
    steps = loaded.scenario.steps
    done = len(results) >= len(steps) and all(r.ok for r in results)
    failed = next((r for r in results if not r.ok), None)
    cur = len(steps) if done else (current if current is not None else 0)
    text: str | None
    lo = max(0, min(cur - 3, len(steps) - 9))
    window = [f"{i + 1} {s.kind}" for i, s in enumerate(steps[lo : lo + 9], start=lo)]
    if failed is not None:
        text = f"✘ step {failed.index + 1} failed: {failed.message}"
    elif done:
        text = f"all {len(steps)} steps passed"
    elif current is not None and current < len(steps):
        step = steps[current]
        text = caption if step.kind == "say" and caption else describe(step)
    else:
        text = caption
    return {
        "name": loaded.name,
        "title": loaded.scenario.title,
        "steps": window,
        "current": cur - lo,
        "caption": text,
        "done": done,
        "total": len(steps),
        "offset": lo,
        "detail": detail,
    }


class DashboardPresenter(Presenter):
    """The live dashboard (polydemo.dashboard) with the current step and caption, refreshed in the background.

    ``screen``: draw it on the terminal (the alternate screen while it runs; the last frame stays when it
    ends). ``cast``: also draw every frame into an asciicast (polydemo.dashboard.cast), with a marker at each
    ``say``; without ``screen`` (stdout not a terminal) the terminal gets one line per step instead.
    ``footer``: a one-line footer under the frame (the presenter keys in --step mode).
    """

    def __init__(
        self,
        env: Environment,
        settings,
        runtime_name: str,
        hz: float = 2.0,
        screen: bool = True,
        cast: Any = None,
        footer: Callable[[], str] | None = None,
        show_commands: Callable[[], bool] | None = None,
    ):
        from polydemo.dashboard import render as render_mod

        self.env, self.settings, self.runtime_name, self.hz = env, settings, runtime_name, hz
        self.screen, self.cast, self.footer = screen, cast, footer
        self.collector: Any = None  # the presenter's own dashboard.Collector: made on the first frame, closed at end()
        self.collect, self.render = self._collect, render_mod.render
        self.results: list[StepResult] = []
        self.current: int | None = None
        self._caption: str | None = None
        self.loaded: Any = None  # the Loaded scenario, from begin()
        self.stop = threading.Event()
        self.wake = threading.Event()  # draw now (a caption, a key), not at the next tick
        self.markers: list[tuple[str, dict]] = []  # say captions (and the panel then) waiting for a frame and a marker
        self.lock = threading.Lock()
        self.lines = LinePresenter(env, show_commands)  # the terminal's lines when there is no screen; the result line
        self.live: Any = None  # rich.live.Live, imported on use
        self.cast_console: Console | None = None
        self.thread: threading.Thread | None = None
        self.last_snap: Any = None
        self.frames = 0
        self.detail: dict | None = None  # the scenario panel's detail: the last trace's waterfall, or commands
        self.show_commands = show_commands or (lambda: True)

    def _collect(self, settings, runtime_name: str, prev=None):
        from polydemo.dashboard.collector import Collector

        if self.collector is None:
            self.collector = Collector(settings, runtime_name)
        return self.collector.collect(prev)

    def _scenario(self, current: int | None):
        detail = self.detail
        if detail is not None and detail.get("commands") and not self.show_commands():
            detail = None  # the commands key turned them off
        return scenario_panel_data(self.loaded, self.results, current, self._caption, detail)

    def _footer(self) -> Text:
        return Text(visible(self.footer()) if self.footer else "", style="dim", overflow="ellipsis", no_wrap=True)

    def begin(self, loaded) -> None:
        self.loaded = loaded
        self.lines.total = len(loaded.scenario.steps)
        if self.screen:
            from rich.live import Live

            self.live = Live(console=self.env.out, screen=True, auto_refresh=False)
            self.live.start()
        else:
            self.lines.begin(loaded)
            if self.footer:
                self.env.err.print(self._footer())
        if self.cast is not None:
            from polydemo.console import THEME
            from polydemo.dashboard.cast import offscreen_console

            self.cast_console = offscreen_console(self.cast, no_color=self.env.out.no_color, theme=THEME)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                self._draw()
            except Exception as exc:  # noqa: BLE001 - a frame that cannot be drawn is skipped, never fatal
                log.debug("dashboard frame skipped: %s: %s", type(exc).__name__, exc)
            self.wake.wait(max(0.0, 1 / self.hz - (time.monotonic() - t0)))
            self.wake.clear()

    def _draw(self) -> None:
        with self.lock:
            markers, self.markers = self.markers, []
        prev = self.last_snap
        snap = self.collect(self.settings, self.runtime_name, prev=prev)
        scen = self._scenario(self.current)
        if self.live is not None:
            width, height = self.env.out.size
            frame = self.render(snap, prev=prev, scenario=scen, width=width, height=height - (1 if self.footer else 0))
            self.live.update(Group(frame, self._footer()) if self.footer else frame, refresh=True)
        for label, at_say in markers:  # the frame that shows the caption, then its marker: the player pauses there
            self._cast_frame(snap, prev, at_say, self._footer())
            self.cast.marker(label)
        self._cast_frame(snap, prev, scen, self._footer())
        self.last_snap = snap
        self.frames += 1

    def _cast_frame(self, snap, prev, scen, below) -> None:
        if self.cast_console is None:
            return
        from polydemo.dashboard.cast import frame_into

        frame = self.render(snap, prev=prev, scenario=scen, width=self.cast.width, height=self.cast.height - 1)
        frame_into(self.cast_console, frame, below)

    def step_started(self, index: int, step, line: int) -> None:
        self.current = index
        if step.kind not in KEEPS_DETAIL:
            self.detail = None
        if not self.screen:
            self.lines.step_started(index, step, line)

    def step_done(self, r: StepResult) -> None:
        self.results.append(r)
        detail = step_detail(r)
        if detail is not None:
            self.detail = {**detail, "commands": r.trace is None}
            self.wake.set()
        if not self.screen:
            self.lines.step_done(r)

    def caption(self, text: str) -> None:
        self._caption = text
        if self.cast is not None:
            with self.lock:
                self.markers.append((visible(text), self._scenario(self.current)))
        self.wake.set()

    def prompt(self, text: str) -> None:
        if not self.screen:
            self.lines.prompt(text)
        self.wake.set()

    def refresh(self) -> None:
        """Draw now (the pacing was paused or resumed: the footer says so)."""
        self.wake.set()

    def end(self, result: RunResult) -> None:
        self.stop.set()
        self.wake.set()
        if self.thread:
            self.thread.join(5)
        final = None
        try:
            final = self.collect(self.settings, self.runtime_name, prev=self.last_snap)
        except Exception as exc:  # noqa: BLE001 - the result line still comes
            log.debug("final frame not collected: %s: %s", type(exc).__name__, exc)
        if self.collector is not None:
            self.collector.close()
        scen = self._scenario(None)
        line = result_line(result, self.lines.total)
        if self.cast_console is not None and final is not None:
            with self.lock:
                markers, self.markers = self.markers, []
            for label, at_say in markers:
                self._cast_frame(final, self.last_snap, at_say, self._footer())
                self.cast.marker(label)
            self._cast_frame(final, self.last_snap, scen, Text.from_markup(line))
        if self.live is not None:
            self.live.stop()  # leaves the alternate screen; the last frame is printed on the normal one, and stays
            if final is not None:
                width, height = self.env.out.size
                self.env.out.print(
                    self.render(final, prev=self.last_snap, scenario=scen, width=width, height=height - 2)
                )
        self.lines.end(result)


def result_line(result: RunResult, total: int) -> str:
    """``NAME: passed, 16/16 steps in 23.1s`` (markup; the name escaped)."""
    verdict = (
        "[ok]passed[/ok]"
        if result.passed
        else ("[warn]interrupted[/warn]" if result.interrupted else "[bad]FAILED[/bad]")
    )
    return f"{_esc(result.name)}: {verdict}, {len(result.steps)}/{total} steps in {result.seconds:.1f}s"


def record_frame(settings, runtime_name: str, result: RunResult, path: Path) -> None:
    """The final frame into a fresh recording console (``console.save_frame``, as `watch --record` saves its)."""
    from polydemo.console import save_frame
    from polydemo.dashboard import render as render_mod
    from polydemo.dashboard.collector import Collector
    from polydemo.scenario import loader

    loaded = loader.load(result.name) if result.name in loader.available() else None
    with Collector(settings, runtime_name) as collector:
        snap = collector.collect()
    scen = scenario_panel_data(loaded, result.steps, None, None) if loaded else None
    frame = render_mod.render(snap, scenario=scen, width=100, height=40)  # 40 rows: the scenario panel too
    save_frame(frame, path, 100, 40, title=f"polydemo: {result.title}")
