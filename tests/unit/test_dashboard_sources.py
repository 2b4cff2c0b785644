"""The dashboard's collector over its sources (fakes through the ``sources`` seam: no servers), the event feed
told by the pipeline's one decoder, and the data model's purity."""

from __future__ import annotations

import ast
import json
import threading
import time
from pathlib import Path

import pytest

from polydemo.config import Settings
from polydemo.dashboard import model
from polydemo.dashboard.collector import Collector
from polydemo.dashboard.model import KafkaData, PostgresData, UserRow
from polydemo.dashboard.sources import BaseSource, Frame
from polydemo.dashboard.sources.feed import key_label, summary
from polydemo.pipeline.events import PoisonMessage, decode

P = "polydemo"


# ---------------------------------------------------------------- the collector over fake sources


class Fake(BaseSource):
    def __init__(self, name: str, data=None, error: Exception | None = None, delay: float = 0.0, needs=()):
        self.name, self.data, self.error, self.delay, self.needs = name, data, error, delay, tuple(needs)
        self.label = f"fake {name}"
        self.calls = 0
        self.seen: list = []  # what upstream() gave it, per call
        self.release = threading.Event()
        self.closed = False

    def collect(self, frame: Frame):
        self.calls += 1
        self.seen.append({n: frame.upstream(n) for n in self.needs})
        if self.delay:
            self.release.wait(self.delay)
        if self.error is not None:
            raise self.error
        return self.data

    def close(self) -> None:
        self.closed = True
        self.release.set()


class NoProjectors(BaseSource):
    name = "projectors"

    def collect(self, frame: Frame):
        return []


def settings() -> Settings:
    return Settings.from_env(home="/nonexistent-polydemo-home")


def collector(*sources, timeout: float = 0.3) -> Collector:
    col = Collector(settings(), "local", timeout=timeout, sources=list(sources), projectors=NoProjectors())
    col._warm = True  # the first frame's longer deadline (connections) is not what these tests are about
    return col


PG = PostgresData(2, 1, [UserRow("u1", "Ada", "ada@example.org")])


def test_a_source_that_raises_is_shown_down_with_its_error_and_the_others_are_not_held_up():
    pg = Fake("postgres", PG)
    mongo = Fake("mongo", error=ConnectionRefusedError("connection refused"))
    with collector(pg, mongo) as col:
        snap = col.collect()
    assert snap.ok("postgres") and snap.postgres == PG
    svc = snap.service("mongo")
    assert svc is not None and not svc.ok and svc.down_since == snap.taken_at
    assert svc.error == "ConnectionRefusedError: connection refused" and svc.label == "fake mongo"
    assert snap.mongo is None
    assert [s.name for s in snap.services] == ["postgres", "mongo"]  # only the services that have a source


def test_a_slow_source_does_not_hold_the_frame_past_its_deadline_and_is_not_started_again_while_blocked():
    slow = Fake("neo4j", "graph data", delay=30.0)
    with collector(Fake("postgres", PG), slow, timeout=0.3) as col:
        t0 = time.perf_counter()
        first = col.collect()
        took = time.perf_counter() - t0
        assert took < 1.5, took  # the deadline is 0.3 s
        svc = first.service("neo4j")
        assert svc is not None and not svc.ok and svc.error is not None and svc.error.startswith("no answer for")
        assert first.ok("postgres")
        second = col.collect(first)
        assert slow.calls == 1  # still blocked: not piled up again
        assert second.service("neo4j").down_since == first.taken_at  # type: ignore[union-attr]
        assert col.busy() == ["neo4j"]
        slow.release.set()  # the server answers
        time.sleep(0.05)
        third = col.collect(second)
        assert third.ok("neo4j") and third.neo4j == "graph data"  # the late answer is shown at once
        stuck = col.close()
    assert stuck == [] and slow.closed


def test_a_source_reads_what_its_upstream_returned_in_the_same_frame_and_none_when_it_failed():
    redis = Fake("redis", "cache data", needs=["postgres"])
    with collector(Fake("postgres", PG), redis) as col:
        col.collect()
    assert redis.seen == [{"postgres": PG}]
    redis = Fake("redis", "cache data", needs=["postgres"])
    with collector(Fake("postgres", error=RuntimeError("down")), redis) as col:
        snap = col.collect()
    assert redis.seen == [{"postgres": None}] and snap.ok("redis")


def test_close_leaves_a_gateway_to_a_source_still_blocked_on_it():
    class Blocked(Fake):  # blocked on a socket: closing the source does not release it
        gateways = ("kafka",)

        def close(self) -> None:
            self.closed = True

    class Pg(Fake):
        gateways = ("users",)

    blocked = Blocked("kafka", delay=30.0)
    col = collector(Pg("postgres", PG), blocked, timeout=0.1)
    col.collect()
    dropped: list[str] = []
    col.stores.drop = dropped.append  # type: ignore[method-assign]
    try:
        assert col.close() == ["kafka"]
        assert dropped == ["users"] and blocked.closed  # the Kafka gateway is left to the blocked source
    finally:
        blocked.release.set()


def test_the_feed_waits_for_kafka_and_keeps_the_last_feed_when_kafka_fails():
    from polydemo.dashboard.model import FeedItem

    class Feed(Fake):
        def collect(self, frame):
            kd = frame.upstream("kafka")
            return None if kd is None else [FeedItem("public.users", 0, 1, "u1", "insert", "Ada", 1)]

    with collector(Fake("kafka", KafkaData()), Feed("feed", needs=["kafka"])) as col:
        first = col.collect()
    assert [f.detail for f in first.feed] == ["Ada"]
    with collector(Fake("kafka", error=RuntimeError("no broker")), Feed("feed", needs=["kafka"])) as col:
        second = col.collect(first)
    assert second.feed == first.feed and not second.ok("kafka")


# ---------------------------------------------------------------- the feed, told by the pipeline's decoder


def dbz(op: str, after=None, before=None, schema: bool = False) -> bytes:
    env = {"before": before, "after": after, "op": op, "source": {"lsn": 7, "ts_ms": 1}, "ts_ms": 2}
    return json.dumps({"schema": {"type": "struct"}, "payload": env} if schema else env).encode()


ADA = {"id": "a94b70fe-1704-586f-b595-37dae767c048", "name": "Ada", "email": "ada@example.org"}


@pytest.mark.parametrize(
    ("topic", "raw", "told"),
    [
        ("public.users", dbz("c", after=ADA), ("insert", "Ada")),
        ("public.users", dbz("r", after=ADA), ("snapshot", "Ada")),
        ("public.users", dbz("u", after={**ADA, "name": None}), ("update", "ada@example.org")),
        ("public.users", dbz("d", before=ADA), ("delete", "Ada")),
        ("public.users", dbz("t"), ("truncate", "")),
        ("public.users", dbz("c", after=ADA, schema=True), ("insert", "Ada")),  # the converter's schemas on
        ("public.follows", dbz("c", after={"follower_id": "f", "followee_id": "g"}), ("follow", "")),
        ("public.follows", dbz("d", before={"follower_id": "f", "followee_id": "g"}), ("unfollow", "")),
        ("social.posts", b'{"op":"insert","post_id":"p1","title":"B-trees","event_id":"e"}', ("insert", "B-trees")),
        (
            "social.posts",
            b'{"op":"update","post_id":"p1","title":"B-trees","likes":3,"likes_changed":true,"event_id":"e"}',
            ("like", "\u26653 B-trees"),
        ),
        ("dualwrite.posts", b'{"op":"insert","post_id":"p2","title":"Dual","via":"dual-write"}', ("insert", "Dual")),
        ("outbox.posts", b'{"schema":null,"payload":{"op":"insert","post_id":"p3","title":"Out"}}', ("insert", "Out")),
        ("public.users", b"\x00\x01garbage", ("?", "9 bytes, not JSON")),
        ("public.users", b"[1, 2]", ("?", "list")),
        ("public.users", None, ("tombstone", "")),
    ],
)
def test_the_feed_tells_each_message_with_the_pipeline_decoder(topic, raw, told):
    assert summary(P, f"{P}.{topic}", topic, raw, None) == told


def test_a_dead_letter_shows_its_reason():
    assert summary(P, f"{P}.dlq", "dlq", b"{}", [("dlq.reason", b"value is not JSON")]) == (
        "dead letter",
        "value is not JSON",
    )


def test_keys_in_short_ids():
    assert key_label(None) == "-"
    assert key_label(json.dumps({"id": ADA["id"]}).encode()) == "a94b70fe"
    assert key_label(json.dumps({"schema": {}, "payload": {"id": ADA["id"]}}).encode()) == "a94b70fe"
    assert key_label(json.dumps({"follower_id": ADA["id"], "followee_id": "b" * 36}).encode()) == "a94b70fe→bbbbbbbb"
    assert key_label(b"p1") == "p1" and key_label(b'"p1"') == "p1"


def test_lenient_decoding_leaves_the_projectors_strict_decoding_as_it_was():
    dual = b'{"op":"insert","post_id":"p2","title":"Dual"}'
    with pytest.raises(PoisonMessage, match="no decoder for topic"):
        decode(P, f"{P}.dualwrite.posts", None, dual)
    with pytest.raises(PoisonMessage, match="without post_id or event_id"):
        decode(P, f"{P}.social.posts", None, dual)
    assert decode(P, f"{P}.public.users", None, dbz("t")) is None  # truncate: skipped by the projectors
    loose = decode(P, f"{P}.dualwrite.posts", None, dual, strict=False)
    assert loose is not None and (loose.entity, loose.op, loose.key, loose.event_id) == (
        "post",
        "create",
        {"id": "p2"},
        "",
    )
    gone = decode(P, f"{P}.public.users", None, dbz("d", before=ADA))
    assert gone is not None and gone.after is None and gone.before == ADA and gone.key == {"id": ADA["id"]}


def test_the_dashboard_has_one_decoder_of_change_events():
    """No module of the dashboard reads a Debezium envelope itself (its payload, source, op, before and after):
    pipeline/events.py does. (The feed reads a post event's own "op", from the Change the decoder made.)"""
    envelope = {"before", "after", "payload", "source", "op", "lsn"}
    found = []
    for path in sorted(Path(model.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in envelope:
                found.append((path.name, node.lineno, node.value))
    assert [(f, v) for f, _, v in found] == [("feed.py", "op")], found


# ---------------------------------------------------------------- the model


def test_the_model_is_pure_data_with_no_client_imports():
    tree = ast.parse(Path(model.__file__).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "json", "types", "typing", "dataclasses"}, imported


# ---------------------------------------------------------------- a slow Mongo-wire server


class SlowCollection:
    """A pymongo collection whose server takes longer than the client's timeout."""

    def estimated_document_count(self):
        import pymongo.errors

        raise pymongo.errors.NetworkTimeout("timed out")


class SlowMongoClient:
    def __getitem__(self, name):
        return {"posts": SlowCollection()}

    def close(self) -> None:
        return None


def test_the_mongo_gateway_says_a_slow_read_is_a_timeout_in_its_own_words():
    import pymongo.errors

    from polydemo.errors import StoreTimeout
    from polydemo.stores.mongo import Posts

    with pytest.raises(StoreTimeout, match="did not answer the count of posts in time") as got:
        Posts(settings(), client=SlowMongoClient()).estimated_count()  # type: ignore[arg-type]
    assert isinstance(got.value.__cause__, pymongo.errors.NetworkTimeout)


def test_a_slow_mongo_read_shows_counting_and_goes_to_the_background():
    from polydemo.dashboard.model import MongoData
    from polydemo.dashboard.sources.mongo import MongoSource
    from polydemo.stores.mongo import Posts

    class Stores:
        posts = Posts(settings(), client=SlowMongoClient())  # type: ignore[arg-type]

    src = MongoSource(settings(), Stores())
    src.label = "SecantusDB (fake)"  # the label is asked first; the count is what times out here
    src._slow_gw = Stores.posts  # the background read meets the same slow server
    try:
        assert src.collect(Frame(time.perf_counter() + 1)) == MongoData(None)  # slow, not down: "counting"
        assert src._refresh is not None
    finally:
        src.close()
