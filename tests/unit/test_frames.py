"""console.save_frame: the one place a frame is recorded (watch/snapshot --record, scenario run --record)."""

from __future__ import annotations

import re

import pytest
from rich.text import Text

from polydemo.console import save_frame
from polydemo.errors import PolydemoError


def test_a_frame_is_saved_as_svg_with_the_theme_and_its_title(tmp_path):
    path = tmp_path / "sub" / "frame.svg"
    save_frame(Text.from_markup("[ok]healthy[/ok] <b>"), path, 100, 30, title="polydemo: a & b")
    svg = path.read_text()
    assert svg.startswith("<svg") and "polydemo:&#160;a&#160;&amp;&#160;b" in svg  # the title, escaped
    assert "healthy" in svg and "&lt;b&gt;" in svg and "[ok]" not in svg
    assert re.search(r"-r\d+ \{ fill: #[0-9a-f]{6};font-weight: bold \}", svg)  # the theme's `ok`: bold, coloured


def test_html_is_the_other_format_and_an_unwritable_path_is_one_clear_error(tmp_path):
    save_frame(Text("frame"), tmp_path / "f.html", 40, 5, title="t")
    assert "frame" in (tmp_path / "f.html").read_text()
    (tmp_path / "file").write_text("")
    with pytest.raises(PolydemoError, match="cannot write"):
        save_frame(Text("x"), tmp_path / "file" / "f.svg", 40, 5, title="t")
