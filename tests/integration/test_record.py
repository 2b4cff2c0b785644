"""Issue 15 (talk mode) on the real stack: `scenario run --record F.cast` records the run as an asciicast."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from polydemo.cli import app
from polydemo.dashboard import cast as cast_mod
from polydemo.scenario import loader

runner = CliRunner()


def test_record_a_cast_without_a_tty_with_a_marker_per_say(stack, tmp_path: Path):
    out = tmp_path / "signup.cast"
    result = runner.invoke(app, ["scenario", "run", "signup", "--speed", "100", "--record", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert cast_mod.problems(text) == []
    header, events = cast_mod.parse(text)
    assert (header["version"], header["width"], header["height"]) == (2, 100, 31)
    assert "sign-up" in header["title"]
    says = [s.text for s in loader.load("signup").scenario.steps if s.kind == "say"]
    assert [e[2] for e in events if e[1] == "m"] == says
    frames = [e for e in events if e[1] == "o"]
    assert len(frames) >= len(says) + 1  # a frame before each marker, and the final one
    # Each marker follows the frame that shows its caption; the last frame has the result line.
    for i, ev in enumerate(events):
        if ev[1] == "m":
            assert events[i - 1][1] == "o" and ev[2][:20] in events[i - 1][2].replace("\r\n", " ")
    assert re.search(r"signup: \S*passed\S*, 11/11 steps", frames[-1][2])
    assert "Postgres" in frames[-1][2]
    # Real timing: the run took time, and the times say so.
    assert 0.3 < events[-1][0] < 60
    print(
        f"\n[record] signup: {len(text) / 1000:.1f} kB, {len(frames)} frames, {len(says)} markers, {events[-1][0]:.1f}s"
    )
    assert "recorded to" in result.stderr and f"{len(says)} markers" in result.stderr
