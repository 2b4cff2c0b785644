"""One Environment object carries the consoles, TTY facts, colour and --json mode.

Data goes to ``out`` (stdout); messages, progress and errors go to ``err`` (stderr).
Tests build an Environment over StringIO instead of patching globals.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.text import Text
from rich.theme import Theme

THEME = Theme(
    {
        "ok": "bold green",
        "bad": "bold red",
        "warn": "bold yellow",
        "dim": "dim",
        "svc": "bold cyan",
        "hint": "italic yellow",
    }
)


# C0/C1 controls (ESC starts an ANSI sequence) and bidirectional overrides/isolates, but not \n or \t.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(value: object) -> str:
    """User data as text that cannot act on the terminal: control characters are shown as ``\\x1b`` etc."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))


def safe(value: object) -> str:
    """User data to put inside a Rich markup string: control characters shown, markup escaped."""
    return escape(visible(value))


def safe_text(value: object, style: str = "") -> Text:
    """User data as a Rich Text (never parsed as markup), control characters shown."""
    return Text(visible(value), style=style)


FRAME_SUFFIXES = (".svg", ".html", ".htm")


def save_frame(renderable: Any, path: Path, width: int, height: int, title: str) -> None:
    """One frame into ``path`` (.svg, else HTML), drawn on a fresh recording console of ``width`` x ``height``
    with polydemo's theme (recording a Live display keeps every frame or none). ``polydemo watch/snapshot
    --record`` and ``scenario run --record`` both save their frames here."""
    from polydemo.errors import PolydemoError

    console = Console(
        record=True,
        width=width,
        height=height,
        file=io.StringIO(),
        theme=THEME,
        force_terminal=True,
        color_system="truecolor",
    )
    console.print(renderable, crop=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".svg":
            console.save_svg(str(path), title=title)
        else:
            console.save_html(str(path))
    except OSError as exc:
        raise PolydemoError(
            f"cannot write {path}: {exc.strerror or exc}", hint="check the directory exists and is writable"
        ) from exc


@dataclass
class Environment:
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    json: bool = False
    width: int | None = None
    force_terminal: bool | None = None

    def __post_init__(self) -> None:
        no_color = bool(os.environ.get("NO_COLOR"))
        self.out = Console(
            file=self.stdout,
            theme=THEME,
            no_color=no_color,
            width=self.width,
            force_terminal=self.force_terminal,
            highlight=False,
        )
        self.err = Console(
            file=self.stderr,
            theme=THEME,
            no_color=no_color,
            width=self.width,
            force_terminal=self.force_terminal,
            highlight=False,
        )

    @property
    def interactive(self) -> bool:
        """True when animations (progress bars, Live) make sense."""
        return self.err.is_terminal and not self.json

    def emit_json(self, data: Any) -> None:
        self.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        self.stdout.flush()

    # Messages are never hard-wrapped (soft_wrap): an error stays one line in a CI log or a pipe.
    def info(self, message: str) -> None:
        self.err.print(message, soft_wrap=True)

    def error(self, message: str, hint: str | None = None, details: str | None = None) -> None:
        self.err.print(f"[bad]error:[/bad] {safe(message)}", soft_wrap=True)
        if details:
            self.err.print(visible(details), markup=False, highlight=False, style="dim", soft_wrap=True)
        if hint:
            self.err.print(f"[hint]hint:[/hint] {safe(hint)}", soft_wrap=True)
