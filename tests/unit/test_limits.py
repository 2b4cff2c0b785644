"""Issue 9: every input bound and the escaping of user data, without servers."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from polydemo.console import Environment, safe, safe_text, visible
from polydemo.domain import limits
from polydemo.domain.users import _validate_email
from polydemo.errors import PolydemoError

EVIL = [
    "[/x]",
    "[bold red]boom[/]",
    "\x1b[2J\x1b[31mred",
    "bell\x07",
    "nul\x00",
    "del\x7f",
    "c1\x9b31m",
    "bidi\u202eevil",
    "isolate\u2066x\u2069",
]


@pytest.mark.parametrize(
    ("check", "limit"),
    [
        (limits.check_name, limits.NAME_MAX),
        (lambda v: limits.check_post(v, "", None, None), limits.TITLE_MAX),
        (lambda v: limits.check_post("t", v, None, None), limits.BODY_MAX),
        (lambda v: limits.check_post("t", "", [v], None), limits.TAG_MAX),
        (lambda v: limits.check_post("t", "", None, v), limits.ID_MAX),
    ],
)
def test_length_limits_accept_the_limit_and_refuse_one_more(check, limit):
    check("a" * limit)
    with pytest.raises(PolydemoError, match=f"over the limit of {limit:,}; nothing was written"):
        check("a" * (limit + 1))


def test_a_name_of_100000_characters_is_refused_with_one_line():
    with pytest.raises(PolydemoError) as exc:
        limits.check_name("a" * 100_000)
    assert exc.value.message == "the name is 100,000 characters long, over the limit of 200; nothing was written"
    assert "at most 200" in exc.value.hint


def test_email_bounds():
    _validate_email("a@example.org")
    with pytest.raises(PolydemoError, match="over the limit of 320"):
        _validate_email("a" * 310 + "@example.org")
    for bad in ("no-at-sign", "a@b", "x\x1b[31m@example.org", "tab\t@example.org"):
        with pytest.raises(PolydemoError):
            _validate_email(bad)


def test_password_bounds():
    limits.check_password("12345678")
    for bad, what in (("short", "too short"), ("x" * 1025, "over the limit"), ("12345678\x00", "NUL")):
        with pytest.raises(PolydemoError, match=what):
            limits.check_password(bad)


@pytest.mark.parametrize("value", [v for v in EVIL if v not in ("[/x]", "[bold red]boom[/]")])
def test_control_and_bidi_characters_are_refused(value):
    with pytest.raises(PolydemoError, match=r"character .*at position"):
        limits.check_name(value)
    with pytest.raises(PolydemoError, match="character"):
        limits.check_post(value, "", None, None)


@pytest.mark.parametrize(
    "value", ["[/x]", "[bold red]boom[/]", "שלום עולם", "مرحبا", "👩‍💻 dev", "Zoë Ōtake", "日本語"]
)
def test_markup_like_text_rtl_scripts_and_emoji_are_allowed(value):
    assert limits.check_name(value) == value.strip()


def test_body_keeps_newlines_and_tabs_but_not_escapes():
    assert limits.check_post("t", "line 1\n\tline 2", None, None)[1] == "line 1\n\tline 2"
    with pytest.raises(PolydemoError):
        limits.check_post("t", "x\x1b[2J", None, None)


def test_empty_and_too_many_tags():
    with pytest.raises(PolydemoError, match="empty"):
        limits.check_post("   ", "", None, None)
    with pytest.raises(PolydemoError, match="21 tags"):
        limits.check_post("t", "", [f"t{i}" for i in range(21)], None)
    with pytest.raises(PolydemoError, match="white space"):
        limits.check_post("t", "", None, "has space")


def _render(markup: str) -> str:
    buf = io.StringIO()
    # No colour system: any ESC in the output can only have come from the data itself.
    Console(file=buf, force_terminal=True, color_system=None, highlight=False, width=200).print(markup)
    return buf.getvalue()


@pytest.mark.parametrize("value", EVIL)
def test_safe_user_data_never_acts_on_the_terminal(value):
    out = _render(f"[bold]user[/bold] {safe(value)}")  # would raise MarkupError or paint for "[/x]"
    assert not any(ch in out for ch in "\x1b\x07\x00\x7f\x9b\u202e\u2066"), repr(out)
    assert out == f"user {visible(value)}\n"  # what was given is shown, not run


def test_visible_shows_control_characters_and_keeps_text():
    assert visible("a\x1bb") == "a\\x1bb"
    assert visible("שלום 👩‍💻\nnext") == "שלום 👩‍💻\nnext"
    assert safe_text("[/x]").plain == "[/x]"


def test_error_messages_escape_user_data():
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), force_terminal=True)
    env.error("no user [/x]\x1b[2J", hint="try [bold]", details="\x1b[31m")
    text = env.stderr.getvalue()
    assert "[/x]" in text and "\x1b[2J" not in text and "\\x1b" in text
