"""The asciicast writer and the dashboard presenter recording into it: no terminal, no servers."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.text import Text

from polydemo.config import Settings
from polydemo.console import Environment
from polydemo.dashboard import cast as cast_mod
from polydemo.dashboard.cast import CastWriter, frame_into, offscreen_console
from polydemo.scenario import loader
from polydemo.scenario.present import DashboardPresenter
from polydemo.scenario.runner import ScenarioRunner

from .test_scenario_runner import Actions, FakeClock, Probe


class Ticks:
    """A clock that moves 0.25 s each time it is read."""

    def __init__(self):
        self.now = 50.0

    def __call__(self) -> float:
        self.now += 0.25
        return self.now


def test_header_then_one_output_event_per_frame_and_markers_in_time_order():
    out = io.StringIO()
    cast = CastWriter(out, 40, 5, title="t", clock=Ticks(), timestamp=1_700_000_000)
    console = offscreen_console(cast, no_color=True)
    for i in range(3):
        frame_into(console, Text(f"frame {i}\nsecond line"), Text("footer"))
        cast.marker(f"say {i}")
    cast.close()
    text = out.getvalue()
    assert cast_mod.problems(text) == []
    header, events = cast_mod.parse(text)
    assert header == {
        "version": 2,
        "width": 40,
        "height": 5,
        "timestamp": 1_700_000_000,
        "title": "t",
        "env": {"TERM": "xterm-256color"},
    }
    assert [e[1] for e in events] == ["o", "m"] * 3
    assert [e[2] for e in events if e[1] == "m"] == ["say 0", "say 1", "say 2"]
    times = [e[0] for e in events]
    assert times == sorted(times) and times[0] > 0
    first = events[0][2]
    assert first.startswith("\x1b[H\x1b[2J") and "frame 0\r\nsecond line" in first and first.endswith("footer")
    assert "\n" not in first.replace("\r\n", "")  # every newline is a CR LF, as a terminal writes it


def test_times_never_go_back_even_if_the_clock_does():
    readings = iter([10.0, 11.0, 10.5, 12.0])
    out = io.StringIO()
    cast = CastWriter(out, 10, 2, clock=lambda: next(readings))
    cast.marker("a")
    cast.marker("b")
    cast.marker("c")
    assert [e[0] for e in cast_mod.parse(out.getvalue())[1]] == [1.0, 1.0, 2.0]


def test_problems_names_what_is_wrong():
    assert cast_mod.problems('{"version": 1, "width": 0, "height": 3}\n[2, "o", "x"]\n[1, "o", "y"]\n[1, "z"]')
    bad = cast_mod.problems('{"version": 1, "width": 0, "height": 3}\n[2, "o", "x"]\n[1, "o", "y"]\n[1, "z"]')
    assert bad == [
        "version is 1, not 2",
        "width is 0",
        "event 2 goes back in time (1 < 2)",
        "event 3 is malformed: [1, 'z']",
    ]
    assert cast_mod.problems("") == ["not JSON lines: empty cast"]


def test_user_text_in_a_caption_is_data_in_the_cast():
    out = io.StringIO()
    cast = CastWriter(out, 10, 2, clock=Ticks())
    cast.marker('"quoted" \x1b[31m [b]x[/b]')
    line = out.getvalue().splitlines()[1]
    assert json.loads(line)[2] == '"quoted" \x1b[31m [b]x[/b]'  # JSON-escaped, so the file stays valid


def test_dashboard_presenter_records_a_frame_and_a_marker_per_say_without_a_terminal():
    """The presenter with no screen (stdout is a pipe): lines on stderr, frames into the cast."""
    loaded = loader.parse(
        "title: t\nsteps:\n"
        '  - say: "first [b]caption[/b]"\n  - sleep: 1\n  - say: "second"\n'
        "  - signup: {email: a@x.org, name: A}\n",
        Path("drill.yaml"),
    )
    stderr = io.StringIO()
    env = Environment(stdout=io.StringIO(), stderr=stderr)
    out = io.StringIO()
    clock = FakeClock()
    cast = CastWriter(out, 60, 12, clock=clock)
    settings = Settings.from_env(home="/nonexistent-polydemo-home")
    presenter = DashboardPresenter(env, settings, "local", hz=50, screen=False, cast=cast)
    presenter.collect = lambda settings, runtime, prev=None: {"n": 1}
    presenter.render = lambda snap, prev=None, scenario=None, width=100, height=30: Text(
        f"{width}x{height} {scenario['caption'] if scenario else ''}"
    )
    result = ScenarioRunner(
        settings, None, loaded, presenter=presenter, actions=Actions(), probe=Probe(), clock=clock, sleep=clock.sleep
    ).run()
    cast.close()
    assert result.passed
    text = out.getvalue()
    assert cast_mod.problems(text) == []
    _, events = cast_mod.parse(text)
    markers = [i for i, e in enumerate(events) if e[1] == "m"]
    assert [events[i][2] for i in markers] == ["first [b]caption[/b]", "second"]
    for i in markers:  # the frame before each marker shows its caption
        assert events[i - 1][1] == "o" and events[i][2] in events[i - 1][2]
    last = events[-1]
    assert (
        last[1] == "o"
        and "60x11 all 4 steps passed" in last[2]
        and "drill: \x1b[1;32mpassed\x1b[0m, 4/4 steps" in last[2]
    )
    assert "4/4 steps" in stderr.getvalue() and "signup" in stderr.getvalue()  # the lines, on the terminal
