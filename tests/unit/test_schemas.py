"""Schema versions of the CDC topics (pipeline/schemas.py), their line on the dashboard (render.py), and the
brokers of cluster mode in the service list (snapshot.broker_services). No servers: change events are built
here the way Debezium writes them (the JSON converter with and without its embedded schema)."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

from rich.console import Console

from polydemo.config import Settings
from polydemo.dashboard.render import render, schema_lines, schema_text
from polydemo.dashboard.snapshot import (
    KafkaData,
    SchemaField,
    ServiceHealth,
    Snapshot,
    TopicSchema,
    broker_services,
)
from polydemo.pipeline.schemas import Diff, FieldSpec, SchemaLog, diff, same_schema, value_fields

FIXTURES = Path(__file__).parent / "fixtures"
BASE = {"id": "u1", "email": "ada@example.org", "name": "Ada", "created_at": "2026-12-01T00:00:00Z"}


def event(row: dict | None, op: str = "c", connector: str = "postgresql", before: dict | None = None) -> bytes:
    return json.dumps(
        {"before": before, "after": row, "source": {"connector": connector, "lsn": 1}, "op": op, "ts_ms": 1}
    ).encode()


def embedded(fields: list[dict], row: dict, op: str = "c") -> bytes:
    """A change event with the JSON converter's schemas on: ``{"schema": envelope, "payload": ...}``."""
    value = {"type": "struct", "optional": True, "name": "polydemo.public.users.Value", "fields": fields}
    schema = {
        "type": "struct",
        "name": "polydemo.public.users.Envelope",
        "fields": [
            {**value, "field": "before"},
            {**value, "field": "after"},
            {"type": "struct", "field": "source", "fields": []},
            {"type": "string", "field": "op", "optional": False},
        ],
    }
    payload = {"before": None, "after": row, "source": {"connector": "postgresql"}, "op": op}
    return json.dumps({"schema": schema, "payload": payload}).encode()


def names(fields) -> list[str]:
    return [f.name for f in fields]


# ---------------------------------------------------------------- the fingerprint


def test_fields_of_an_event_without_an_embedded_schema_are_its_after_row():
    fields = value_fields(event({**BASE, "age": 3, "admin": False, "bio": None}))
    assert names(fields) == ["id", "email", "name", "created_at", "age", "admin", "bio"]
    types = {f.name: f.type for f in fields}
    assert types["id"] == "string" and types["age"] == "number" and types["admin"] == "boolean"
    assert types["bio"] is None  # a null tells nothing about the type
    assert all(f.optional is None for f in fields)  # nor whether it is optional


def test_fields_of_an_event_with_the_converters_schema_are_exact():
    fields = value_fields(
        embedded(
            [
                {"type": "string", "optional": False, "field": "id"},
                {"type": "string", "optional": True, "field": "bio"},
                {"type": "string", "optional": True, "name": "io.debezium.time.ZonedTimestamp", "field": "created_at"},
            ],
            {"id": "u1", "bio": None, "created_at": "x"},
        )
    )
    assert fields == (
        FieldSpec("id", "string", False),
        FieldSpec("bio", "string", True),
        FieldSpec("created_at", "string/ZonedTimestamp", True),
    )


def test_messages_that_say_nothing_about_the_connectors_schema():
    assert value_fields(None) is None  # tombstone
    assert value_fields(b"not json") is None
    assert value_fields(b"[1, 2]") is None
    assert value_fields(event(BASE, connector="polydemo-breaking-event")) is None  # another producer's
    assert value_fields(event(None, op="d", before=BASE)) is None  # a delete has no after row
    assert value_fields(event(None, op="t")) is None  # truncate
    assert value_fields(event(BASE, op="r")) is not None  # the initial snapshot's reads count


def test_same_schema_ignores_unknown_types_and_catches_known_differences():
    a = value_fields(event({**BASE, "bio": None}))
    b = value_fields(event({**BASE, "bio": "hi"}))
    c = value_fields(event({**BASE, "bio": 7}))
    assert same_schema(a, b) and same_schema(a, c)  # a null matches any type
    assert not same_schema(b, c)  # string vs number: ALTER COLUMN ... TYPE
    assert not same_schema(a, value_fields(event(BASE)))  # one field fewer
    reordered = {"email": "e", "id": "u1", "name": "n", "created_at": "t", "bio": None}
    assert not same_schema(a, value_fields(event(reordered)))  # column order is part of the schema


def test_diff_added_removed_changed_in_field_order():
    old = (FieldSpec("id", "string"), FieldSpec("bio", "string"), FieldSpec("age", "number"))
    new = (FieldSpec("id", "string"), FieldSpec("age", "string"), FieldSpec("about", "string"), FieldSpec("x"))
    d = diff(old, new)
    assert d == Diff(added=("about", "x"), removed=("bio",), changed=("age",))
    assert d.text() == "+about +x -bio ~age"
    assert not diff(old, old) and diff(old, old).text() == ""
    # Optionality counts as a change only when both sides know it.
    assert diff((FieldSpec("bio", "string", False),), (FieldSpec("bio", "string", True),)).changed == ("bio",)
    assert not diff((FieldSpec("bio", "string", None),), (FieldSpec("bio", "string", True),))


# ---------------------------------------------------------------- versions in offset order


def the_schema_change_story() -> list[tuple[bytes, tuple[int, int, int]]]:
    """What Debezium writes during the schema-change scenario, on two partitions: users rows, then bio added
    (rows with bio null and with a bio), then about added and backfilled, then bio dropped."""
    rows = [
        *[{**BASE, "id": f"a{i}"} for i in range(4)],
        *[{**BASE, "id": f"b{i}", "bio": None} for i in range(3)],
        {**BASE, "id": "b9", "bio": "Writes the first program"},
        *[{**BASE, "id": f"c{i}", "bio": "x", "about": "x"} for i in range(2)],
        *[{**BASE, "id": f"d{i}", "about": None} for i in range(3)],
    ]
    out = []
    offsets = [0, 0]
    for ts, row in enumerate(rows):
        p = ts % 2
        out.append((event(row, op="c" if ts % 3 else "u"), (1000 + ts, p, offsets[p])))
        offsets[p] += 1
    return out


def feed(log: SchemaLog, msgs) -> SchemaLog:
    for raw, at in msgs:
        log.see_message(raw, at)
    return log


def test_versions_follow_the_schema_change_story():
    msgs = the_schema_change_story()
    log = SchemaLog()
    seen = []
    for raw, at in msgs:
        log.see_message(raw, at)
        v = log.view()
        seen.append((v.version, v.diff.text()))
    assert seen[0] == (1, "")
    assert seen[3] == (1, "")
    assert seen[4] == (2, "+bio")  # ALTER TABLE users ADD COLUMN bio TEXT
    assert seen[7] == (2, "+bio")  # a bio filled in is the same schema as a null one
    assert seen[8] == (3, "+about")  # the rename: about added ...
    assert seen[-1] == (4, "-bio")  # ... and bio dropped
    view = log.view()
    assert view.versions == 4 and view.messages == len(msgs)
    assert names(view.fields) == ["id", "email", "name", "created_at", "about"]
    assert {f.name: f.type for f in view.fields}["about"] is None  # only nulls in v4's rows


def test_a_type_seen_later_fills_the_version_in():
    log = feed(
        SchemaLog(),
        [(event({**BASE, "bio": None}), (1, 0, 0)), (event({**BASE, "bio": "hi"}), (2, 0, 1))],
    )
    assert log.view().versions == 1
    assert {f.name: f.type for f in log.view().fields}["bio"] == "string"


def test_a_type_change_is_a_new_version_with_a_changed_field():
    log = feed(
        SchemaLog(),
        [(event({**BASE, "bio": "hi"}), (1, 0, 0)), (event({**BASE, "bio": 7}), (2, 0, 1))],
    )
    v = log.view()
    assert (v.version, v.versions, v.diff.changed) == (2, 2, ("bio",))


def test_the_result_does_not_depend_on_the_order_of_reading():
    msgs = the_schema_change_story()
    want = feed(SchemaLog(), msgs).view()
    rng = random.Random(16)
    for _ in range(20):
        shuffled = list(msgs)
        rng.shuffle(shuffled)
        assert feed(SchemaLog(), shuffled).view() == want
    # Partition by partition, as a reader with a budget may get them: the same.
    by_partition = sorted(msgs, key=lambda m: (m[1][1], m[1][2]))
    assert feed(SchemaLog(), by_partition).view() == want


def test_the_current_version_is_the_newest_messages_even_when_an_old_schema_comes_back():
    old, new = event(BASE), event({**BASE, "bio": None})
    log = feed(SchemaLog(), [(old, (1, 0, 0)), (new, (2, 0, 1)), (old, (3, 0, 2))])
    v = log.view()
    assert (v.version, v.versions, v.diff.text()) == (1, 2, "")


def test_injected_and_empty_topics():
    assert SchemaLog().view().versions == 0
    log = feed(SchemaLog(), [(event(BASE, connector="polydemo-breaking-event"), (1, 0, 0)), (None, (2, 0, 1))])
    assert log.view().versions == 0 and log.view().messages == 0


# ---------------------------------------------------------------- on the dashboard


def schemas_after_rename() -> list[TopicSchema]:
    fields = [SchemaField(n, "string") for n in ("id", "email", "name", "created_at", "updated_at", "about")]
    follows = [SchemaField(n, "string") for n in ("follower_id", "followee_id", "created_at")]
    return [
        TopicSchema("users", 4, 4, fields, [], ["bio"], [], 343),
        TopicSchema("follows", 1, 1, follows, [], [], [], 203),
    ]


def frame_text(snap: Snapshot, width: int = 100, height: int = 30) -> str:
    console = Console(record=True, width=width, height=height, no_color=True, force_terminal=True, file=io.StringIO())
    console.print(render(snap, None, width=width, height=height), crop=True)
    return console.export_text()


def live() -> Snapshot:
    return Snapshot.from_dict(json.loads((FIXTURES / "snapshot_live.json").read_text()))


def test_schema_text():
    users, follows = schemas_after_rename()
    assert schema_text(users) == "users v4 -bio"
    assert schema_text(follows) == "follows v1"
    assert schema_text(TopicSchema("users", 2, 2, [], ["bio"])) == "users v2 +bio"
    assert schema_text(TopicSchema("users", 3, 3, [], ["about"], ["bio"], ["age"])) == "users v3 +about -bio ~age"
    assert schema_text(TopicSchema("users", 0, 0)) == "users -"
    assert schema_text(TopicSchema("users", 1, 1, catching_up=True)) == "users v1 (reading)"


def test_schema_lines_fit_the_width():
    s = schemas_after_rename()
    assert [t.plain for t in schema_lines(s, 40)] == ["schema users v4 -bio · follows v1"]
    assert [t.plain for t in schema_lines(s, 28)] == ["users v4 -bio · follows v1"]
    assert [t.plain for t in schema_lines(s, 20)] == ["users v4 -bio", "follows v1"]
    assert schema_lines([], 40) == []


def test_the_kafka_panel_shows_the_schema_versions_at_100x30():
    snap = live()
    snap.schemas = [TopicSchema("users", 2, 2, [SchemaField("bio")], ["bio"], [], [], 40), schemas_after_rename()[1]]
    text = frame_text(snap)
    lines = text.splitlines()
    assert len(lines) <= 30 and all(len(line) <= 100 for line in lines)
    kafka = [line for line in lines if "users v2 +bio" in line]
    assert kafka and "follows v1" in kafka[0]
    # The projector groups are still all there.
    for g in snap.kafka.groups:
        assert g.projector in text
    # Without schemas (an older recorded snapshot) the panel is as before.
    assert "users v" not in frame_text(live())


def test_schemas_round_trip_through_the_snapshots_json():
    snap = live()
    snap.schemas = schemas_after_rename()
    again = Snapshot.from_json(snap.to_json())
    assert again.schemas == snap.schemas
    data = json.loads(snap.to_json())["schemas"][0]
    assert data["topic"] == "users" and data["version"] == 4 and data["removed"] == ["bio"]
    assert [f["name"] for f in data["fields"]][-1] == "about"
    assert live().schemas == []  # the fixtures predate the field


# ---------------------------------------------------------------- cluster mode: kafka-2, kafka-3


def settings(brokers: int) -> Settings:
    return Settings.from_env(home="/nonexistent-polydemo-home").with_overrides(kafka_brokers=brokers)


def test_brokers_2_and_3_are_services_of_their_own_in_cluster_mode():
    up = broker_services(settings(3), KafkaData(brokers=[1, 2, 3]), None, None, 100.0)
    assert [(s.name, s.ok, s.label) for s in up] == [
        ("kafka-2", True, "broker 2 of 3"),
        ("kafka-3", True, "broker 3 of 3"),
    ]
    assert broker_services(settings(1), KafkaData(brokers=[1]), None, None, 100.0) == []


def test_a_broker_missing_from_the_metadata_is_down_since_its_first_frame():
    first = broker_services(settings(3), KafkaData(brokers=[1, 3]), None, None, 100.0)
    assert [(s.name, s.ok) for s in first] == [("kafka-2", False), ("kafka-3", True)]
    assert first[0].error == "broker 2 not in the cluster metadata" and first[0].down_since == 100.0
    prev = Snapshot(100.0, "local", [ServiceHealth("kafka", True), *first])
    later = broker_services(settings(3), KafkaData(brokers=[1, 3]), None, prev, 105.0)
    assert later[0].down_since == 100.0  # carried over
    # Kafka not answering at all: both brokers say why.
    gone = broker_services(settings(3), None, "KafkaException: timed out", prev, 106.0)
    assert [s.ok for s in gone] == [False, False] and gone[1].error == "KafkaException: timed out"


def test_the_header_lists_kafka_2_and_3():
    snap = live()
    kafka_at = next(i for i, s in enumerate(snap.services) if s.name == "kafka")
    down = broker_services(settings(3), KafkaData(brokers=[1, 2]), None, None, snap.taken_at)
    snap.services[kafka_at + 1 : kafka_at + 1] = down
    text = frame_text(snap)
    assert "✔ kafka-2" in text and "✘ kafka-3 down since" in text
    assert "1 of 9 services down" in text


def test_rows_alike_share_one_fields_tuple_and_the_shortcut_gives_the_same_answer():
    """value_fields() hands out one tuple per (name, JSON type) list and SchemaLog.see() skips a repeat by
    identity (at 200,000 sign-ups the schema read was 15 us a message; 6 us with both). Fed copies that defeat
    the identity check, the log must reach the same view."""
    msgs = the_schema_change_story()
    assert value_fields(msgs[0][0]) is value_fields(msgs[1][0])
    fast = feed(SchemaLog(), msgs).view()
    slow = SchemaLog()
    for raw, at in msgs:
        fields = value_fields(raw)
        slow.see(None if fields is None else tuple(FieldSpec(f.name, f.type, f.optional) for f in fields), at)
    assert slow.view() == fast
    rng = random.Random(6)
    shuffled = list(msgs)
    rng.shuffle(shuffled)
    assert feed(SchemaLog(), shuffled * 3).view().fields == fast.fields
