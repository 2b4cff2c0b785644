"""Showing a scenario run: one line per step, or the live dashboard with a scenario panel."""

from __future__ import annotations

import io
import logging
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from polydemo.console import Environment, visible
from polydemo.scenario.runner import Presenter, RunResult, StepResult, describe

log = logging.getLogger("polydemo.scenario")

ICON = {"done": "✔", "failed": "✘", "running": "▶", "pending": "·"}


class LinePresenter(Presenter):
    def __init__(self, env: Environment):
        self.env = env
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
        for command in r.commands:  # --show-commands: the statements the step really ran
            self.env.err.print(Text(f"      {visible(command)}", style="dim"), soft_wrap=True, emoji=False)
        if not r.ok and (r.expected or r.seen):
            self.env.err.print(f"      expected: {_esc(r.expected or '')}\n      seen:     {_esc(r.seen or '')}")

    def prompt(self, text: str) -> None:
        self.env.err.print(f"[warn]⏸ {_esc(text)}[/warn]")

    def end(self, result: RunResult) -> None:
        verdict = (
            "[ok]passed[/ok]"
            if result.passed
            else ("[warn]interrupted[/warn]" if result.interrupted else "[bad]FAILED[/bad]")
        )
        self.env.info(
            f"{_esc(result.name)}: {verdict}, {len(result.steps)}/{self.total} steps in {result.seconds:.1f}s"
        )


def _esc(text: str) -> str:
    from polydemo.console import safe

    return safe(text)


def scenario_panel_data(loaded, results: list[StepResult], current: int | None, caption: str | None) -> dict:
    """The dashboard's scenario panel (polydemo.dashboard.render): a window of steps around the current one,
    ticked off, and the caption (the narration, or what the current step does)."""
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
    }


class DashboardPresenter(Presenter):
    """The live dashboard (polydemo.dashboard) with the current step and caption, refreshed in the background."""

    def __init__(self, env: Environment, settings, runtime_name: str, hz: float = 2.0):
        from polydemo.dashboard import render as render_mod
        from polydemo.dashboard import snapshot as snap_mod

        self.env, self.settings, self.runtime_name, self.hz = env, settings, runtime_name, hz
        self.collect, self.render = snap_mod.collect, render_mod.render
        self.results: list[StepResult] = []
        self.current: int | None = None
        self._caption: str | None = None
        self.loaded: Any = None  # the Loaded scenario, from begin()
        self.stop = threading.Event()
        self.live: Any = None  # rich.live.Live, imported on use
        self.thread: threading.Thread | None = None

    def _frame(self, prev=None):
        snap = self.collect(self.settings, self.runtime_name, prev=prev)
        return snap, self.render(
            snap, prev=prev, scenario=scenario_panel_data(self.loaded, self.results, self.current, self._caption)
        )

    def begin(self, loaded) -> None:
        from rich.live import Live

        self.loaded = loaded
        self.live = Live(console=self.env.out, screen=True, auto_refresh=False)
        self.live.start()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        prev = None
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                snap, frame = self._frame(prev)
                self.live.update(frame, refresh=True)
                prev = snap
            except Exception as exc:  # noqa: BLE001 - a frame that cannot be drawn is skipped, never fatal
                log.debug("dashboard frame skipped: %s: %s", type(exc).__name__, exc)
            self.stop.wait(max(0.0, 1 / self.hz - (time.monotonic() - t0)))

    def step_started(self, index: int, step, line: int) -> None:
        self.current = index

    def step_done(self, r: StepResult) -> None:
        self.results.append(r)

    def caption(self, text: str) -> None:
        self._caption = text

    def end(self, result: RunResult) -> None:
        self.stop.set()
        if self.thread:
            self.thread.join(5)
        if self.live:
            self.live.stop()
        summary = LinePresenter(self.env)
        summary.total = len(self.loaded.scenario.steps)
        summary.end(result)


def record_frame(settings, runtime_name: str, result: RunResult, path: Path) -> None:
    """The final frame into a fresh recording console (recording a Live display keeps every frame or none)."""
    from polydemo.dashboard import render as render_mod
    from polydemo.dashboard import snapshot as snap_mod
    from polydemo.scenario import loader

    loaded = loader.load(result.name) if result.name in loader.available() else None
    snap = snap_mod.collect(settings, runtime_name)
    scen = scenario_panel_data(loaded, result.steps, None, None) if loaded else None
    console = Console(record=True, width=100, height=40, file=io.StringIO(), force_terminal=True)
    console.print(render_mod.render(snap, scenario=scen, width=100, height=40))
    if path.suffix.lower() == ".svg":
        console.save_svg(str(path), title=f"polydemo: {result.title}")
    else:
        console.save_html(str(path))
