"""Schema versions of a CDC topic, read from the change events themselves (pure; tests/unit/test_schemas.py).

There is no schema registry here (docs/scenarios.md, "Three stories"), so the version of a topic's value schema is
derived from the messages: each distinct schema of the Debezium ``after`` struct gets an ordinal, in the
order the schemas first appear on the topic (v1, v2, ...), and the topic's *current* version is the one
of its newest change event. A version's diff is taken against the version before it (v2 against v1).

Two kinds of event carry the schema differently:

* with the JSON converter's schemas on (``{"schema": ..., "payload": ...}``), the ``after`` field of
  the envelope schema lists every field with its Connect type and whether it is optional: exact;
* with them off (polydemo's connector config, ``stack/connect/polydemo-users.json``), the field list of
  the ``after`` row *is* the schema: the names in column order, each with the JSON type of its value
  (``string``, ``number``, ``boolean``, ``object``, ``array``) and ``optional`` unknown (None). A null
  tells nothing about the type, so a row with ``bio: null`` and one with ``bio: "..."`` are the same
  schema; two rows are different schemas when their names differ, or when a field has a value of a
  different JSON type in each (``ALTER COLUMN ... TYPE``).

Only Debezium's own events count (``source.connector`` ``postgresql``): a message another producer put
on the topic (the schema-change story's broken producer) is not the connector's schema. Deletes carry
no ``after`` row; without an embedded schema they are skipped too.

Messages may be fed in any order (the dashboard reads six partitions a budget at a time): a version's
place is decided by the position (record timestamp, partition, offset) of its first message, and the
current version by the newest message seen, so the result does not depend on the order of reading.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

JSON_TYPES = {str: "string", bool: "boolean", int: "number", float: "number", dict: "object", list: "array"}

Position = tuple[int, int, int]  # (record timestamp ms, partition, offset): "offset order" across partitions


@dataclass(frozen=True)
class FieldSpec:
    """One field of a value schema. ``type`` None: not known yet (only nulls seen, no embedded schema);
    ``optional`` None: not known (no embedded schema)."""

    name: str
    type: str | None = None
    optional: bool | None = None

    def label(self) -> str:
        return self.name + (f":{self.type}" if self.type else "") + ("?" if self.optional else "")


def value_fields(raw: bytes | str | None) -> tuple[FieldSpec, ...] | None:
    """The fields of the ``after`` struct of one Debezium change event; None for a message that says nothing
    about the connector's schema (a tombstone, not JSON, not Debezium's, a delete without an embedded
    schema, a truncate)."""
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    schema = doc.get("schema") if "payload" in doc and "op" not in doc else None
    env = (doc.get("payload") or {}) if schema is not None else doc
    if not isinstance(env, dict) or (env.get("source") or {}).get("connector") != "postgresql":
        return None
    if isinstance(schema, dict):
        embedded = _embedded(schema)
        if embedded is not None:
            return embedded
    if env.get("op") not in ("c", "r", "u"):
        return None
    row = env.get("after")
    if not isinstance(row, dict):
        return None
    # One tuple per distinct (name, JSON type) list, shared by every row like it: a dashboard reading 200,000
    # sign-ups' history spent most of its time making these (and SchemaLog.see skips a repeat by identity).
    sig = tuple((k, type(v)) for k, v in row.items())
    fields = _FIELDS.get(sig)
    if fields is None:
        if len(_FIELDS) >= _FIELDS_MAX:
            _FIELDS.clear()
        fields = _FIELDS[sig] = tuple(
            FieldSpec(str(k), None if v is None else JSON_TYPES.get(type(v), "?")) for k, v in row.items()
        )
    return fields


_FIELDS: dict[tuple, tuple[FieldSpec, ...]] = {}
_FIELDS_MAX = 4096


def _embedded(schema: dict) -> tuple[FieldSpec, ...] | None:
    """The ``after`` struct's fields from the JSON converter's envelope schema (Connect type, plus the logical
    type's last name when there is one: ``string/ZonedTimestamp``)."""
    after = next((f for f in schema.get("fields") or [] if isinstance(f, dict) and f.get("field") == "after"), None)
    if after is None or not isinstance(after.get("fields"), list):
        return None
    out = []
    for f in after["fields"]:
        if not isinstance(f, dict) or "field" not in f:
            continue
        kind = str(f.get("type") or "?")
        logical = str(f.get("name") or "").rpartition(".")[2]
        out.append(FieldSpec(str(f["field"]), f"{kind}/{logical}" if logical else kind, bool(f.get("optional"))))
    return tuple(out)


def same_schema(a: tuple[FieldSpec, ...], b: tuple[FieldSpec, ...]) -> bool:
    """The same field names in the same order, and no field whose type is known in both and differs (nor its
    optionality)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x.name != y.name:
            return False
        if x.type is not None and y.type is not None and x.type != y.type:
            return False
        if x.optional is not None and y.optional is not None and x.optional != y.optional:
            return False
    return True


def merge(a: tuple[FieldSpec, ...], b: tuple[FieldSpec, ...]) -> tuple[FieldSpec, ...]:
    """``a`` with what ``b`` knows and ``a`` does not (a type first seen on a later row). Both the same schema."""
    return tuple(
        FieldSpec(
            x.name, x.type if x.type is not None else y.type, x.optional if x.optional is not None else y.optional
        )
        for x, y in zip(a, b, strict=True)
    )


@dataclass(frozen=True)
class Diff:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()  # same name, another (known) type or optionality

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def text(self) -> str:
        """``+bio -about ~age``; empty when nothing changed."""
        return " ".join(
            [*(f"+{n}" for n in self.added), *(f"-{n}" for n in self.removed), *(f"~{n}" for n in self.changed)]
        )


def diff(old: tuple[FieldSpec, ...], new: tuple[FieldSpec, ...]) -> Diff:
    """What ``new`` added, removed and changed against ``old``, each in its schema's field order."""
    before = {f.name: f for f in old}
    after = {f.name: f for f in new}
    changed = []
    for f in new:
        o = before.get(f.name)
        if o is None:
            continue
        if (o.type is not None and f.type is not None and o.type != f.type) or (
            o.optional is not None and f.optional is not None and o.optional != f.optional
        ):
            changed.append(f.name)
    return Diff(
        tuple(f.name for f in new if f.name not in before),
        tuple(f.name for f in old if f.name not in after),
        tuple(changed),
    )


@dataclass
class _Version:
    fields: tuple[FieldSpec, ...]
    first: Position
    messages: int = 0


@dataclass(frozen=True)
class SchemaView:
    """A topic's schema versions as the dashboard shows them: ``version`` of ``versions`` (0: no change event
    seen yet), the current version's fields, and its diff against the version before it."""

    version: int
    versions: int
    fields: tuple[FieldSpec, ...]
    diff: Diff
    messages: int  # change events that told a schema


@dataclass
class SchemaLog:
    """The distinct value schemas seen on one topic (feed it every message with :meth:`see`)."""

    versions: list[_Version] = field(default_factory=list)
    newest: tuple[Position, int] | None = None  # the newest message's position and its version (index)
    messages: int = 0
    # The last fields seen (by identity) and their version: the same tuple again matches the same version and
    # merging it again changes nothing, so the common case (row after row alike) skips both.
    _last: tuple[tuple[FieldSpec, ...], int] | None = field(default=None, repr=False, compare=False)

    def see(self, fields: tuple[FieldSpec, ...] | None, at: Position) -> None:
        if fields is None:
            return
        self.messages += 1
        if self._last is not None and self._last[0] is fields:
            v = self.versions[self._last[1]]
            v.first = min(v.first, at)
            v.messages += 1
            if self.newest is None or at > self.newest[0]:
                self.newest = (at, self._last[1])
            return
        idx = next((i for i, v in enumerate(self.versions) if same_schema(v.fields, fields)), None)
        if idx is None:
            self.versions.append(_Version(fields, at))
            idx = len(self.versions) - 1
        self._last = (fields, idx)
        v = self.versions[idx]
        v.fields = merge(v.fields, fields)
        v.first = min(v.first, at)
        v.messages += 1
        if self.newest is None or at > self.newest[0]:
            self.newest = (at, idx)

    def see_message(self, raw: bytes | str | None, at: Position) -> None:
        self.see(value_fields(raw), at)

    def view(self) -> SchemaView:
        if self.newest is None:
            return SchemaView(0, 0, (), Diff(), self.messages)
        order = sorted(range(len(self.versions)), key=lambda i: self.versions[i].first)
        rank = order.index(self.newest[1])
        cur = self.versions[self.newest[1]]
        prev = self.versions[order[rank - 1]] if rank else None
        return SchemaView(
            rank + 1, len(order), cur.fields, diff(prev.fields, cur.fields) if prev else Diff(), self.messages
        )
