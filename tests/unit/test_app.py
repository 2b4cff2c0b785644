"""The application object (polydemo.app.Demo) through fake gateways: the use cases' rules, in milliseconds.

Like pip-tools' FakeRepository: small in-memory classes with the methods of the real gateways
(``stores.postgres.Users``, ``stores.mongo.Posts``, ``Cache``, ``Graph``, ``KafkaAdmin``) are passed into
the constructor, with the dual write's Kafka publish, the crashing writer's child process and the
projectors' trace records. The domain rules, ``reads.read_user`` and ``pipeline.trace`` run for real.
The real gateways are exercised by the integration tests (test_pipeline, test_outbox, test_read_model).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest

from polydemo.app import Consistency, Demo, PostMode
from polydemo.config import Settings
from polydemo.errors import AlreadyExists, ExitStatus, PolydemoError, StoreUnreachable
from polydemo.pipeline import dualwrite, outbox
from polydemo.pipeline.loop import group_id
from polydemo.scenario.model import Post
from polydemo.scenario.runner import StackActions
from polydemo.stores.kafka import PartitionLag
from polydemo.stores.postgres import UserRow

# ---------------------------------------------------------------- the fakes


class FakeUsers:
    """Postgres: users, follows, the outbox path's posts. Records every write."""

    def __init__(self):
        self.rows: dict[str, UserRow] = {}
        self.hashes: dict[str, str] = {}
        self.follows: set[tuple[str, str]] = set()
        self.outbox: list[tuple[dict, dict]] = []
        self.bio_column = False
        self.bios: dict[str, str] = {}

    def add(self, email: str, name: str) -> UserRow:
        return self.insert_user(email, name, "hash")

    def insert_user(self, email: str, name: str, hashed_password: str, user_id: str | None = None) -> UserRow:
        if any(r.email == email for r in self.rows.values()):
            raise AlreadyExists("a user with this email exists already")  # what the real gateway raises
        row = UserRow(user_id or str(uuid.uuid4()), email, name)
        self.rows[row.id], self.hashes[row.id] = row, hashed_password
        return row

    def user(self, email_or_id: str) -> UserRow | None:
        return self.rows.get(email_or_id) or next((r for r in self.rows.values() if r.email == email_or_id), None)

    def rename(self, user_id: str, name: str) -> UserRow:
        self.rows[user_id] = UserRow(user_id, self.rows[user_id].email, name)
        return self.rows[user_id]

    def set_bio(self, user_id: str, bio: str) -> list[str]:
        if not self.bio_column:
            return []
        self.bios[user_id] = bio
        return ["bio"]

    def delete_user(self, user_id: str) -> None:
        del self.rows[user_id]
        self.follows = {f for f in self.follows if user_id not in f}

    def follow(self, follower_id: str, followee_id: str) -> bool:
        new = (follower_id, followee_id) not in self.follows
        self.follows.add((follower_id, followee_id))
        return new

    def unfollow(self, follower_id: str, followee_id: str) -> bool:
        had = (follower_id, followee_id) in self.follows
        self.follows.discard((follower_id, followee_id))
        return had

    def follower_count(self, user_id: str) -> int:
        return sum(1 for _, b in self.follows if b == user_id)

    def insert_post_with_outbox(self, post: dict, entry: dict, before_commit=None) -> None:
        self.outbox.append((post, entry))


class FakePosts:
    def __init__(self):
        self.docs: dict[str, dict] = {}

    def insert(self, doc: dict) -> None:
        self.docs[doc["_id"]] = doc

    def like(self, post_id: str, by: int = 1) -> dict | None:
        doc = self.docs.get(post_id)
        if doc is not None:
            doc["meta"]["likes"] += by
        return doc


@dataclass
class FakeCache:
    profiles: dict[str, dict] = field(default_factory=dict)  # user id -> {"name": ...}
    followers: dict[str, int] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def user_id(self, email: str) -> str | None:
        self.asked.append(email)
        return None

    def profile(self, user_id: str) -> dict | None:
        self.asked.append(user_id)
        return self.profiles.get(user_id)

    def follower_count(self, user_id: str) -> int:
        return self.followers.get(user_id, 0)


@dataclass
class FakeGraph:
    nodes: dict[str, tuple[str, int]] = field(default_factory=dict)  # user id -> (name, followers)
    asked: list[str] = field(default_factory=list)
    down: bool = False

    def user(self, user_id: str | None, email: str):
        self.asked.append(email)
        if self.down:
            raise ConnectionError("neo4j is paused")
        return self.nodes.get(user_id or "")


class FakeKafka:
    """Every projector's group has committed ``high - lag[name]`` of a single partition."""

    def __init__(self, settings: Settings, lag: dict[str, int]):
        self.by_group = {group_id(settings, name): n for name, n in lag.items()}
        self.down = False

    def high_watermarks(self, topic_names=None, timeout: float = 3.0) -> dict:
        if self.down:  # what the real gateway raises when no broker answers
            raise StoreUnreachable("Kafka", "Failed to get metadata: Local: Broker transport failure")
        return {}

    def group_lag(self, group: str, group_topics: list[str], highs=None) -> list[PartitionLag]:
        return [PartitionLag("users", 0, 100, 100 - self.by_group.get(group, 0))]


class FakeStores:
    def __init__(self, settings: Settings, lag: dict[str, int] | None = None):
        self.settings = settings
        self.users, self.posts = FakeUsers(), FakePosts()
        self.cache, self.graph = FakeCache(), FakeGraph()
        self.kafka = FakeKafka(settings, lag or {})
        self.dropped: list[str] = []
        self.closed = False

    def drop(self, name: str) -> None:
        self.dropped.append(name)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env(home=tmp_path, runtime="local")


@dataclass
class World:
    demo: Demo
    stores: FakeStores
    published: list[dict]
    crashes: list[tuple]
    crash_code: dict[PostMode, int]

    def nothing_written(self) -> bool:
        return not (self.stores.posts.docs or self.stores.users.outbox or self.published or self.crashes)


@pytest.fixture
def world(settings) -> World:
    stores = FakeStores(settings, lag={"cache": 3})
    published: list[dict] = []
    crashes: list[tuple] = []
    codes = {PostMode.DUAL_WRITE: dualwrite.CRASH_EXIT, PostMode.OUTBOX: outbox.CRASH_EXIT}

    def crash_writer(mode, settings, author_id, title, body, tags, post_id) -> int:
        crashes.append((mode, author_id, title, post_id))
        return codes[mode]

    demo = Demo(
        settings,
        stores=stores,  # type: ignore[arg-type]
        publish=lambda s, doc: published.append(doc),
        crash_writer=crash_writer,
    )
    stores.users.add("ken@example.org", "Ken")
    return World(demo, stores, published, crashes, codes)


# ---------------------------------------------------------------- posts: three paths, and the injected crash


def test_the_relay_path_writes_mongo_only_and_publishes_nothing(world):
    done = world.demo.post("ken@example.org", "  Hello  ", "body", ["b", "a", "a"], post_id="p1")
    assert done.mode is PostMode.RELAY and not done.crashed and done.post_id == "p1"
    assert world.stores.posts.docs["p1"]["title"] == done.title == "Hello"  # the validated title, as stored
    assert world.stores.posts.docs["p1"]["tags"] == ["a", "b"]
    assert world.published == [] and world.stores.users.outbox == [] and world.crashes == []
    assert done.as_dict()["_id"] == "p1"


def test_the_dual_write_writes_mongo_then_publishes_the_same_document(world):
    done = world.demo.post("ken@example.org", "Hi", mode=PostMode.DUAL_WRITE, post_id="p2")
    assert list(world.stores.posts.docs) == ["p2"]
    assert world.published == [world.stores.posts.docs["p2"]]
    assert world.stores.users.outbox == [] and not done.crashed


def test_the_outbox_writes_the_post_and_its_event_in_postgres_and_nothing_to_mongo(world):
    done = world.demo.post("ken@example.org", "Boxed", mode="outbox", post_id="p3")
    [(row, entry)] = world.stores.users.outbox
    assert row["id"] == entry["aggregateid"] == "p3" and entry["payload"]["via"] == "outbox"
    assert world.stores.posts.docs == {} and world.published == []
    shown = done.as_dict()
    assert shown["_id"] == "p3" and shown["via"] == "outbox" and isinstance(shown["created_at"], str)


@pytest.mark.parametrize("mode", [PostMode.DUAL_WRITE, PostMode.OUTBOX])
def test_the_injected_crash_runs_the_crashing_writer_and_says_so(world, mode):
    done = world.demo.post("ken@example.org", "Doomed", mode=mode, crash_between=True, post_id="p4")
    assert done.crashed and done.doc is None and done.mode is mode
    ken = world.stores.users.user("ken@example.org")
    assert world.crashes == [(mode, ken.id, "Doomed", "p4")]
    assert world.stores.posts.docs == {} and world.stores.users.outbox == [] and world.published == []


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        (PostMode.DUAL_WRITE, r"exited 1, not with the injected crash \(70\)"),
        (PostMode.OUTBOX, r"exited 1, not killed by the injected SIGKILL \(-9\)"),
    ],
)
def test_a_writer_that_did_not_die_as_injected_is_an_error(world, mode, said):
    world.crash_code[mode] = 1
    with pytest.raises(PolydemoError, match=said):
        world.demo.post("ken@example.org", "Doomed", mode=mode, crash_between=True, post_id="p5")


def test_bad_combinations_are_refused_and_nothing_is_written(world):
    with pytest.raises(PolydemoError, match="two different paths"):
        PostMode.from_flags(dual_write=True, outbox=True)
    with pytest.raises(PolydemoError, match="only applies to --dual-write or --outbox") as exc:
        world.demo.post("ken@example.org", "x", mode=PostMode.RELAY, crash_between=True)
    assert exc.value.exit_code == ExitStatus.ERROR  # as the CLI exited before the app layer
    with pytest.raises(PolydemoError, match=r"no user nobody@example\.org"):
        world.demo.post("nobody@example.org", "x", mode=PostMode.OUTBOX)
    with pytest.raises(PolydemoError):
        world.demo.post("ken@example.org", "", mode=PostMode.DUAL_WRITE)  # an empty title
    with pytest.raises(ValueError):
        world.demo.post("ken@example.org", "x", mode="carrier-pigeon")
    assert world.nothing_written()


def test_the_flags_and_the_scenario_words_name_the_modes():
    assert PostMode.from_flags() is PostMode.RELAY
    assert PostMode.from_flags(dual_write=True) is PostMode.DUAL_WRITE
    assert PostMode.from_flags(outbox=True) is PostMode.OUTBOX
    assert PostMode("cdc") is PostMode.RELAY  # a scenario file's `mode: cdc`


def test_the_scenario_runner_posts_through_the_same_app(world, settings):
    actions = StackActions(settings, None, world.demo)
    step = Post(id="s1", author="ken@example.org", title="From a scenario", mode="dual-write", crash_between=True)
    assert actions.post(step) == "s1 written to Mongo; the writer crashed before publishing (injected)"
    assert [c[0] for c in world.crashes] == [PostMode.DUAL_WRITE]
    step = Post(id="s2", author="ken@example.org", title="Boxed", mode="outbox")
    assert actions.post(step).startswith("s2 and its outbox entry committed in one Postgres transaction")
    assert actions.post(Post(id="s3", author="ken@example.org", title="Relayed")) == (
        "s3 written to Mongo; the relay publishes it"
    )
    assert sorted(world.stores.posts.docs) == ["s3"] and [r["id"] for r, _ in world.stores.users.outbox] == ["s2"]


# ---------------------------------------------------------------- sign-ups and follows


@pytest.mark.parametrize(
    ("email", "name", "password", "said"),
    [
        ("not-an-email", "Ann", "long-enough-password", "is not an email address; nothing was written"),
        ("ann@example.org", "Ann", "short", "the password is too short; nothing was written"),
        ("ann@example.org", "", "long-enough-password", "nothing was written"),
        ("ken@example.org", "Ken again", "long-enough-password", "already registered; nothing was written"),
    ],
)
def test_a_refused_signup_writes_nothing(world, email, name, password, said):
    before = dict(world.stores.users.rows)
    with pytest.raises(PolydemoError, match=said):
        world.demo.signup(email, name, password)
    assert world.stores.users.rows == before


def test_a_signup_stores_a_hash_never_the_password(world):
    user = world.demo.signup("  Ann@Example.org ", "Ann", "correct horse battery")
    assert user.email == "ann@example.org"
    stored = world.stores.users.hashes[user.id]
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


def test_follow_twice_is_no_change_and_nobody_follows_themselves(world):
    world.stores.users.add("ann@example.org", "Ann")
    first = world.demo.follow("ann@example.org", "ken@example.org")
    again = world.demo.follow("ann@example.org", "ken@example.org")
    assert first.changed and not again.changed
    assert first.as_dict() == {"follower": "ann@example.org", "followee": "ken@example.org", "changed": True}
    with pytest.raises(PolydemoError, match="cannot follow themselves"):
        world.demo.follow("ken@example.org", "ken@example.org")
    assert world.demo.unfollow("ann@example.org", "ken@example.org").changed
    assert world.stores.users.follows == set()


# ---------------------------------------------------------------- strong versus eventual reads


def test_a_strong_read_asks_postgres_only(world):
    reads = world.demo.read_user("ken@example.org", Consistency.STRONG)
    assert [(r.store, r.name, r.verdict) for r in reads.results] == [("postgres", "Ken", "source of truth")]
    assert world.stores.cache.asked == [] and world.stores.graph.asked == []


def test_an_eventual_read_asks_the_projections_and_says_which_is_stale_and_how_far_behind(world):
    ken = world.stores.users.user("ken@example.org")
    world.stores.cache.profiles[ken.id] = {"name": "Kenneth"}  # the cache projector has not applied the rename
    world.stores.graph.nodes[ken.id] = ("Ken", 0)
    reads = world.demo.read_user("ken@example.org", "eventual")
    got = {r.store: (r.name, r.verdict, r.lag_messages) for r in reads.results}
    assert got == {"redis": ("Kenneth", "stale", 3), "neo4j": ("Ken", "in sync", 0)}
    assert world.stores.cache.asked and world.stores.graph.asked


def test_a_missing_projection_and_a_down_store_are_said_not_guessed(world):
    world.stores.graph.down = True
    got = {r.store: r for r in world.demo.read_user("ken@example.org").results}
    assert got["postgres"].verdict == "source of truth"
    assert got["redis"].verdict == "missing" and not got["redis"].found
    assert got["neo4j"].verdict == "down" and "neo4j is paused" in got["neo4j"].detail
    assert world.stores.dropped == ["graph"]  # the broken gateway is made again on the next read


def test_with_kafka_down_the_reads_still_answer_and_the_lag_is_unknown(world):
    world.stores.kafka.down = True
    ken = world.stores.users.user("ken@example.org")
    world.stores.cache.profiles[ken.id] = {"name": "Ken"}
    got = {r.store: (r.verdict, r.lag_messages) for r in world.demo.read_user("ken@example.org").results}
    assert got == {"postgres": ("source of truth", None), "redis": ("in sync", None), "neo4j": ("missing", None)}


def test_an_unknown_store_is_refused_before_any_read(world):
    with pytest.raises(PolydemoError, match="unknown store 'mysql'") as exc:
        world.demo.read_user("ken@example.org", ["postgres", "mysql"])
    assert "use one of: postgres, redis, neo4j, all" in (exc.value.hint or "")
    assert world.stores.cache.asked == [] and world.stores.graph.asked == []


# ---------------------------------------------------------------- the trace, from recorded times


def rec(uid: str, consumed: float, applied: float) -> dict:
    return {
        "event_id": "e1",
        "entity": "user",
        "op": "update",
        "key": {"id": uid},
        "source_ts_ms": 1_000,
        "lsn": 7,
        "topic": "polydemo.public.users",
        "partition": 0,
        "offset": 3,
        "kafka_ts_ms": 1_010,
        "consumed_at_ms": consumed,
        "applied_at_ms": applied,
    }


def test_the_trace_is_the_waterfall_of_the_recorded_times(settings):
    stores = FakeStores(settings)
    ken = stores.users.add("ken@example.org", "Ken")
    rings = {"graph": [rec(ken.id, 1_020, 1_030)], "cache": [rec(ken.id, 1_015, 1_016)], "analytics": None}
    demo = Demo(settings, stores=stores, recent=lambda s, name: rings[name])  # type: ignore[arg-type]
    t = demo.trace(user="ken@example.org", wait=0)
    assert t.key == ken.id and t.subject == "ken@example.org" and not t.complete
    assert [t.ms(h) for h in t.hops[:6]] == [0, 10, 20, 30, 15, 16]
    assert [h.name for h in t.hops[6:]] == ["analytics consume", "visible in time-series"]
    assert all(h.at_ms is None and "cannot be read" in (h.unknown or "") for h in t.hops[6:])


def test_the_trace_needs_exactly_one_subject_a_usage_error(world):
    for kwargs in ({}, {"user": "ken@example.org", "post": "p1"}):
        with pytest.raises(PolydemoError, match="one of them") as exc:
            world.demo.trace(**kwargs)
        assert exc.value.exit_code == ExitStatus.USAGE
    with pytest.raises(PolydemoError, match="no user 'nobody'"):
        world.demo.trace(user="nobody", wait=0)


def test_the_app_closes_only_the_bundle_it_made(settings, world):
    world.demo.close()
    assert not world.stores.closed


def test_the_stage_controls_refuse_an_unknown_action_or_projector_as_usage_errors(world):
    for call, match in (
        (lambda: world.demo.projector("cache", "explode"), "unknown projector action 'explode'"),
        (lambda: world.demo.connector("restart-everything"), "unknown connector action"),
        (lambda: world.demo.projector("nope", "kill"), "unknown projector 'nope'"),
    ):
        with pytest.raises(PolydemoError, match=match):
            call()
    with pytest.raises(PolydemoError) as exc:
        world.demo.projector("cache", "explode")
    assert exc.value.exit_code == ExitStatus.USAGE
    assert world.demo.projector("cache", "stop") == "not running", "nothing of this home runs"
