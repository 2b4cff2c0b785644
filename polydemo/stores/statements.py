"""The statement log: what a gateway actually sent to its store, for `scenario run --show-commands`.

A gateway notes each write it executes (:func:`note`), with the text built from the very statement and
parameters it passed to the client; nothing is noted unless a caller is :func:`recording`. Each note
carries the key of the change it belongs to (``user:<id>``, ``follow:<follower>:<followee>``), so the
scenario can match its own SQL with what the projectors later did for the same change.

Secrets never reach the log: a parameter wrapped in :class:`Secret` (the password hash) is shown as
``'<argon2id hash>'``, and any string that looks like an argon2 hash is replaced the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any

HASH_SHOWN = "<argon2id hash>"


@dataclass(frozen=True)
class Secret:
    """A parameter that is sent to the store but never shown."""

    value: Any
    shown: str = HASH_SHOWN


@dataclass
class Statement:
    store: str  # "postgres", "neo4j", "redis", "kafka", "mongo"
    text: str  # the statement as it ran, parameters inlined (redacted)
    key: str | None = None  # the change it belongs to: "user:<id>", "follow:<a>:<b>", "post:<id>"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class StatementLog:
    items: list[Statement] = field(default_factory=list)

    def add(self, statement: Statement) -> None:
        self.items.append(statement)

    def keys(self) -> list[str]:
        return list(dict.fromkeys(s.key for s in self.items if s.key))


_current: ContextVar[StatementLog | None] = ContextVar("polydemo_statement_log", default=None)


@contextmanager
def recording() -> Iterator[StatementLog]:
    """Note every statement the gateways execute in this context (thread / task) until the block ends."""
    log = StatementLog()
    token = _current.set(log)
    try:
        yield log
    finally:
        _current.reset(token)


def active() -> bool:
    return _current.get() is not None


def note(store: str, text: str, key: str | None = None) -> None:
    log = _current.get()
    if log is not None:
        log.add(Statement(store, text, key))


def change_key(change: Any) -> str:
    """The key a change (``pipeline.events.Change``) is filed under; the gateways' own writes use the same."""
    if change.entity == "follow":
        return f"follow:{change.key['follower_id']}:{change.key['followee_id']}"
    return f"{change.entity}:{change.key.get('id', '')}"


# ---------------------------------------------------------------- redaction and rendering


def redact(value: Any) -> Any:
    """The value as it may be shown: a Secret or an argon2 hash becomes its placeholder (nested too)."""
    if isinstance(value, Secret):
        return _Shown(value.shown)
    if isinstance(value, str) and value.startswith("$argon2"):
        return _Shown(HASH_SHOWN)
    if isinstance(value, Mapping):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class _Shown(str):
    """A placeholder, printed as a quoted SQL literal ('<argon2id hash>') wherever the value stood."""


def sql_literal(value: Any) -> str:
    value = redact(value)
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(sql_literal(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


def sql(statement: str, params: Sequence[Any] = ()) -> str:
    """``statement`` with each ``%s`` replaced by its parameter as a literal (psycopg's placeholders)."""
    parts = statement.split("%s")
    if len(parts) - 1 != len(params):
        return f"{statement}  -- params: {[sql_literal(p) for p in params]}"
    out = [parts[0]]
    for p, rest in zip(params, parts[1:], strict=True):
        out += [sql_literal(p), rest]
    return "".join(out)


def cypher(query: str, **params: Any) -> str:
    """The Cypher text and its parameters, as the driver sent them (``$rows`` and the like)."""
    shown = ", ".join(f"{k}: {json.dumps(redact(v), default=str, ensure_ascii=False)}" for k, v in params.items())
    return f"{query}  {{{shown}}}" if shown else query


def redis(*args: Any) -> str:
    """A Redis command as ``redis-cli`` would show it: HSET user:… id … email …"""
    return " ".join(_redis_word(redact(a)) for a in args)


def _redis_word(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (not text or any(c in text for c in " \"'\\")) else text
