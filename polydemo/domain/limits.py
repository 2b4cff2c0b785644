"""Bounds on what users may write, checked before anything is written (pure; tests/unit/test_limits.py).

A name, an email, a title, a body or a tag that breaks a rule is refused with one line that says
which field, what is wrong and what is allowed; nothing reaches a store. The rules:

* a length limit per field (in characters, as Python and Postgres count them);
* no control characters (C0/C1: ESC starts an ANSI sequence that would repaint a presenter's
  terminal; a NUL is refused by Postgres only after other work) — a body may keep newlines and tabs;
* no bidirectional overrides or isolates (U+202A–U+202E, U+2066–U+2069: "Trojan Source" text that
  displays differently from what it is). Right-to-left scripts, emoji and zero-width joiners are fine.
"""

from __future__ import annotations

import unicodedata

from polydemo.errors import PolydemoError

NAME_MAX = 200
EMAIL_MAX = 320  # RFC 3696 (errata): 64 local + @ + 255 domain
PASSWORD_MIN = 8
PASSWORD_MAX = 1024  # argon2 hashes any length; a bound keeps a pasted file from being hashed
TITLE_MAX = 200
BODY_MAX = 10_000
TAG_MAX = 50
TAGS_MAX = 20
ID_MAX = 64
BIO_MAX = 500

_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
_MULTILINE_OK = {"\n", "\t"}


def problem(value: str, multiline: bool) -> str | None:
    for i, ch in enumerate(value):
        if multiline and ch in _MULTILINE_OK:
            continue
        cat = unicodedata.category(ch)
        if cat == "Cc":
            return f"a control character (U+{ord(ch):04X}) at position {i + 1}"
        if cat == "Cs":
            return f"a lone surrogate (U+{ord(ch):04X}) at position {i + 1}, which is not valid text"
        if ch in _BIDI_CONTROLS:
            return f"a bidirectional control character (U+{ord(ch):04X}) at position {i + 1}"
    return None


def check_text(
    field: str, value: str, max_len: int, *, multiline: bool = False, required: bool = True, option: str | None = None
) -> str:
    """``value`` when it is allowed for ``field``, else a PolydemoError naming the rule it breaks."""
    how = f"pass {option} with" if option else "use"
    if not isinstance(value, str):
        raise PolydemoError(f"the {field} must be text, not {type(value).__name__}", hint=f"{how} plain text")
    if required and not value.strip():
        raise PolydemoError(f"the {field} is empty; nothing was written", hint=f"{how} a non-empty {field}")
    if len(value) > max_len:
        raise PolydemoError(
            f"the {field} is {len(value):,} characters long, over the limit of {max_len:,}; nothing was written",
            hint=f"{how} a {field} of at most {max_len:,} characters",
        )
    bad = problem(value, multiline)
    if bad:
        allowed = "plain text; newlines and tabs are fine" if multiline else "plain text on one line"
        raise PolydemoError(f"the {field} contains {bad}; nothing was written", hint=f"{how} {allowed}")
    return value


def check_name(name: str) -> str:
    return check_text("name", name, NAME_MAX, option="--name").strip()


def check_bio(bio: str) -> str:
    """A profile bio: at most 500 characters, newlines and tabs allowed, may be empty (clears it)."""
    return check_text("bio", bio, BIO_MAX, multiline=True, required=False, option="--bio")


def check_email_length(email: str) -> str:
    return check_text("email", email, EMAIL_MAX)


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise PolydemoError(
            "the password is too short; nothing was written", hint=f"use at least {PASSWORD_MIN} characters"
        )
    if len(password) > PASSWORD_MAX:
        raise PolydemoError(
            f"the password is over the limit of {PASSWORD_MAX:,} characters; nothing was written",
            hint=f"use at most {PASSWORD_MAX:,} characters",
        )
    if "\x00" in password:
        raise PolydemoError(
            "the password contains a NUL character; nothing was written", hint="use printable characters"
        )
    return password


def check_post(title: str, body: str, tags: list[str] | None, post_id: str | None) -> tuple[str, str, list[str]]:
    title = check_text("title", title, TITLE_MAX, option="--title").strip()
    body = check_text("body", body or "", BODY_MAX, multiline=True, required=False, option="--body")
    tags = list(tags or [])
    if len(tags) > TAGS_MAX:
        raise PolydemoError(
            f"{len(tags)} tags is over the limit of {TAGS_MAX}; nothing was written",
            hint=f"pass --tag at most {TAGS_MAX} times",
        )
    tags = [check_text("tag", t, TAG_MAX, option="--tag").strip() for t in tags]
    if post_id is not None:
        check_text("post id", post_id, ID_MAX, option="--id")
        if any(ch.isspace() for ch in post_id):
            raise PolydemoError(
                "the post id contains white space; nothing was written",
                hint="pass --id with letters, digits, '-' or '_'",
            )
    return title, body, tags
