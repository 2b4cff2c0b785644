"""One frame of dashboard data, gathered concurrently from every store and the pipeline.

:class:`Snapshot` is pure data (JSON-serialisable, ``to_dict``/``from_dict``): the renderer and the
tests only ever see this. :func:`collect` fills one. It never raises: each collector catches its own
errors, and a store that fails (or does not answer within the frame's deadline) becomes a ``down``
entry whose first-failure time is carried over from the previous frame ("down since 12:04:31").

Connections are kept between frames by a :class:`Collector` (``collect`` keeps one per Settings), so
a frame costs a few queries, not a few handshakes. A collector that is still blocked from an earlier
frame (a paused server) is not started again; a store that was down in the previous frame is retried
in the background without holding the frame up, so the dashboard keeps its refresh rate in a drill.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import json
import logging
import threading
import time
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any

from polydemo.config import SERVICES, Settings
from polydemo.stores.postgres import EXACT_BELOW

log = logging.getLogger(__name__)

SAMPLE = 5  # latest users, latest posts, most followed, cached profiles
FEED_SIZE = 10  # event feed: messages kept per partition and shown in all
WINDOW_MINUTES = 15  # time-series sparklines
SLOW_MS = 150.0  # a Mongo read slower than this is refreshed in the background (the frame shows the last one)
TIMEOUT = 1.0  # seconds a frame waits for a store that answered in the previous frame
FIRST_TIMEOUT = 5.0  # the first frame also opens every connection
GRACE = 0.02  # how long a frame waits for stores that were down (they are retried in the background)
FEED_READ_S = 0.3  # at most this long reading the tail of the topics for the feed
SCHEMA_READ_S = 0.5  # at most this long per background read of the CDC topics' new messages (schema versions)
FIRST_SCHEMA_READ_S = 3.0  # the first read takes their history (a large one over the next reads too)
FIRST_SCHEMA_WAIT_S = 1.0  # how long the first frame (a one-shot `snapshot`) waits for that read; then "(reading)"
SLOT_PEEK_S = 2.0  # how often a frame measures the oldest unsent change in the replication slot
EPOCH = "2001-01-01 00:00:00+00"  # date_bin origin (any whole minute)

# Collector task -> the service whose health it decides. "feed" and "schemas" decide none.
TASKS = ("postgres", "timeseries", "mongo", "neo4j", "kafka", "connect", "redis", "feed", "schemas")
CDC_TOPICS = ("users", "follows")  # the topics whose value schema versions the dashboard shows
# Collector task -> the gateway (stores.Stores attribute) it asks.
GATEWAY_OF = {
    "postgres": "users",
    "timeseries": "events",
    "mongo": "posts",
    "neo4j": "graph",
    "redis": "cache",
    "kafka": "kafka",
    "connect": "connect",
}


# ---------------------------------------------------------------- the data


@dataclass
class ServiceHealth:
    name: str
    ok: bool
    label: str = ""  # the engine, e.g. "PostgreSQL 15, partitioned (timescaledb not installed)"
    error: str | None = None
    down_since: float | None = None  # epoch seconds of the first failed frame in a row
    ms: float | None = None  # how long its collector took


@dataclass
class UserRow:
    id: str
    name: str | None
    email: str
    created_at: str | None = None  # ISO-8601


@dataclass
class SlotData:
    """The Debezium replication slot (stores.postgres.SlotInfo, as plain data)."""

    name: str
    exists: bool
    active: bool = False
    wal_status: str | None = None
    retained_bytes: int | None = None
    unsent_bytes: int | None = None
    safe_bytes: int | None = None
    cap_bytes: int | None = None
    oldest_unsent_age_s: float | None = None
    error: str | None = None
    invalidated: bool = False


@dataclass
class PostgresData:
    users: int
    follows: int
    latest: list[UserRow] = field(default_factory=list)
    slot: SlotData | None = None
    users_estimated: bool = False  # the planner's estimate (large table), shown as "≈"
    follows_estimated: bool = False


@dataclass
class PostRow:
    id: str
    title: str
    likes: int = 0
    author_id: str | None = None


@dataclass
class MongoData:
    posts: int | None  # None: the first count is still being read in the background (a slow server at scale)
    latest: list[PostRow] = field(default_factory=list)
    as_of: float | None = None  # epoch s of the read shown, when it is an earlier one (a slow server at scale)


@dataclass
class Followed:
    id: str | None
    name: str | None
    followers: int


@dataclass
class Neo4jData:
    nodes: int
    users: int
    follows: int
    top: list[Followed] = field(default_factory=list)


@dataclass
class TimeseriesData:
    events: int  # all rows (an estimate past EXACT_BELOW rows: events_estimated)
    minutes: list[str] = field(default_factory=list)  # bucket starts (ISO-8601), oldest first
    per_type: dict[str, list[int]] = field(default_factory=dict)  # event_type -> count per bucket
    events_estimated: bool = False


@dataclass
class CachedProfile:
    id: str
    name: str | None = None
    email: str | None = None
    ttl: int | None = None  # seconds left; None: not in the cache; -1: no expiry


@dataclass
class RedisData:
    profiles: int  # profiles in the projection (Cache.profile_count: exact)
    profiles_exact: bool  # always True since the index set; kept so older recorded snapshots still load
    keys: int  # DBSIZE (from INFO keyspace)
    hits: int
    misses: int
    sample: list[CachedProfile] = field(default_factory=list)
    sample_source: str = "latest users"  # the latest Postgres users looked up, or "scan" as a fallback
    used_memory: int | None = None  # bytes (INFO memory); None in snapshots recorded before it was read
    maxmemory: int | None = None  # bytes; 0: no limit


@dataclass
class TopicHigh:
    topic: str
    partition: int
    high: int
    leader: int = -1  # broker id (-1: no leader)
    isr: list[int] = field(default_factory=list)  # in-sync replicas
    replicas: list[int] = field(default_factory=list)


@dataclass
class PartLag:
    topic: str
    partition: int
    committed: int | None
    high: int
    lag: int
    owner: str | None = None  # the projector instance that owns it now ("graph#2"); None: no member has it


@dataclass
class GroupLag:
    projector: str
    group: str
    committed: int
    lag: int
    partitions: list[PartLag] = field(default_factory=list)
    lag_s: float | None = None  # age of the oldest unconsumed change (0 when lag is 0; None: not read in time)
    lag_trend: list[float] = field(default_factory=list)  # lag_s over the last minute, oldest first, per TREND_S
    instances: int = 0  # members of the consumer group now


@dataclass
class KafkaData:
    partitions: list[TopicHigh] = field(default_factory=list)
    groups: list[GroupLag] = field(default_factory=list)
    brokers: list[int] = field(default_factory=list)  # the broker ids the cluster metadata lists

    def group(self, projector: str) -> GroupLag | None:
        return next((g for g in self.groups if g.projector == projector), None)


@dataclass
class ConnectTask:
    id: int
    state: str
    trace: str | None = None


@dataclass
class ConnectData:
    connector: str
    state: str  # RUNNING, PAUSED, FAILED, UNREGISTERED, ...
    tasks: list[ConnectTask] = field(default_factory=list)


@dataclass
class WorkerRow:
    name: str
    running: bool
    state: str
    pid: int | None = None
    processed: int | None = None
    last_error: str | None = None


@dataclass
class FeedItem:
    topic: str  # without the prefix: public.users, social.posts, dlq, ...
    partition: int
    offset: int
    key: str  # short ids: "6f31eae1", "fdac7bfb→ef1768a2"
    op: str  # insert, update, delete, snapshot, follow, unfollow, like, tombstone, dead letter, ...
    detail: str  # the user's name, the post's title, the dead letter's reason, ...
    ts_ms: int  # the message's timestamp


@dataclass
class SchemaField:
    name: str
    type: str | None = None  # the Connect type (embedded schema) or the JSON type seen; None: only nulls seen
    optional: bool | None = None  # None: not known (the converter embeds no schema)


@dataclass
class TopicSchema:
    """A CDC topic's value schema version (pipeline/schemas.py): ``version`` of ``versions`` (0: no change event
    read yet), the current version's fields, and what it added, removed and changed against the one before."""

    topic: str  # users, follows
    version: int
    versions: int
    fields: list[SchemaField] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    messages: int = 0  # change events read that told a schema
    catching_up: bool = False  # the topic's history is not all read yet


@dataclass
class Snapshot:
    taken_at: float  # epoch seconds
    runtime: str
    services: list[ServiceHealth] = field(default_factory=list)
    postgres: PostgresData | None = None
    timeseries: TimeseriesData | None = None
    mongo: MongoData | None = None
    neo4j: Neo4jData | None = None
    redis: RedisData | None = None
    kafka: KafkaData | None = None
    connect: ConnectData | None = None
    projectors: list[WorkerRow] = field(default_factory=list)
    feed: list[FeedItem] = field(default_factory=list)
    schemas: list[TopicSchema] = field(default_factory=list)
    collect_ms: float = 0.0
    version: int = 1

    def service(self, name: str) -> ServiceHealth | None:
        return next((s for s in self.services if s.name == name), None)

    def ok(self, name: str) -> bool:
        svc = self.service(name)
        return bool(svc and svc.ok)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, data: dict) -> Snapshot:
        return _build(cls, data)

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        return cls.from_dict(json.loads(text))


def _build(tp: Any, value: Any) -> Any:
    """Rebuild nested dataclasses from plain data (the inverse of ``asdict``); unknown keys are ignored."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(inner[0], value) if len(inner) == 1 else value
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_build(item, v) for v in value]
    if origin is dict:
        _, item = typing.get_args(tp)
        return {k: _build(item, v) for k, v in value.items()}
    if is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: _build(hints[f.name], value[f.name]) for f in fields(tp) if f.name in value})  # type: ignore[operator]
    return value


def partition_owners(members: list) -> dict[tuple[str, int], str]:
    """(topic, partition) -> the instance that owns it (``graph#2``, from the member's client id; its client
    id as it is for a consumer polydemo did not start). Pure: ``members`` are ``stores.kafka.GroupMember``s."""
    from polydemo.pipeline.projector import instance_of

    return {tp: instance_of(m.client_id) or m.client_id or "?" for m in members for tp in m.partitions}


def broker_services(
    settings: Settings, kafka: KafkaData | None, kafka_error: str | None, prev: Snapshot | None, now: float
) -> list[ServiceHealth]:
    """Cluster mode: brokers 2 and 3 (``kafka-2``, ``kafka-3``) as services of their own, healthy while the
    cluster metadata of this frame lists them (``kafka`` stands for the cluster, as the gateway reaches it
    through any broker). None outside cluster mode. Pure."""
    out = []
    for n in settings.broker_ids()[1:]:
        name, label = settings.broker_service(n), f"broker {n} of {settings.kafka_brokers}"
        if kafka is not None and n in kafka.brokers:
            out.append(ServiceHealth(name, True, label))
            continue
        err = f"broker {n} not in the cluster metadata" if kafka is not None else (kafka_error or "Kafka not answering")
        before = prev.service(name) if prev else None
        since = before.down_since if before is not None and not before.ok and before.down_since else now
        out.append(ServiceHealth(name, False, label, err, since))
    return out


# ---------------------------------------------------------------- collecting


TREND_WINDOW_S = 60.0
TREND_SLOTS = 8  # one sparkline cell per 7.5 s


def lag_trend(hist: list[tuple[float, float]], now: float) -> list[float]:
    """The highest lag seconds in each of TREND_SLOTS slots of the last minute, oldest first (pure)."""
    slot = TREND_WINDOW_S / TREND_SLOTS
    out = [0.0] * TREND_SLOTS
    for t, v in hist:
        i = TREND_SLOTS - 1 - int((now - t) // slot)
        if 0 <= i < TREND_SLOTS:
            out[i] = max(out[i], round(v, 2))
    return out


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return (text.splitlines() or ["down"])[0][:160]


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else (str(value) if value is not None else None)


def _default_label(service: str) -> str:
    try:
        from polydemo.runtime.services import SPECS

        return SPECS[service].engine
    except KeyError:  # a name that is not a service of ours: show it as it is
        return service


class Collector:
    """Long-lived clients for every store, and the thread pool the collectors run on."""

    def __init__(
        self, settings: Settings, runtime_name: str = "local", timeout: float = TIMEOUT, feed_size: int = FEED_SIZE
    ):
        # The client libraries are imported here, once, not in the collector threads (imports take a lock).
        import confluent_kafka  # noqa: F401
        import httpx  # noqa: F401
        import neo4j  # noqa: F401
        import psycopg  # noqa: F401
        import pymongo  # noqa: F401
        import redis  # noqa: F401

        self.settings = settings
        self.runtime_name = runtime_name
        self.timeout = timeout
        self.feed_size = feed_size
        self._pool = cf.ThreadPoolExecutor(max_workers=len(TASKS) + 2, thread_name_prefix="polydemo-dashboard")
        self._pending: dict[str, tuple[cf.Future, float]] = {}
        from polydemo.stores import Stores

        self.stores = Stores(settings, timeout=timeout)  # one gateway per store, short timeouts, kept between frames
        self._clients: dict[str, Any] = {}  # the feed's consumer
        self._labels: dict[str, str] = {}
        self._client_lock = threading.Lock()
        self._feed: dict[tuple[str, int], list[FeedItem]] = {}
        self._feed_highs: dict[tuple[str, int], int] = {}
        self._topics: list[str] | None = None
        self._schema_logs: dict[str, Any] = {}  # topic -> pipeline.schemas.SchemaLog
        self._schema_pos: dict[tuple[str, int], int] = {}  # (topic, partition) -> the next offset to read
        self._schema_ids: dict[str, str] = {}  # topic -> its id when read (reset recreates the topics)
        self._schema_highs: dict[tuple[str, int], int] = {}
        self._schema_pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="polydemo-schemas")
        self._schema_future: cf.Future | None = None
        self._schema_view: list[TopicSchema] | None = None  # what the last finished read found
        self._schema_waited = False
        self._closing = threading.Event()  # set by close(): a schema read in progress ends at its next batch
        self._connect_version: str | None = None
        self._warm = False
        self._last_error: dict[str, str | None] = {}
        self._own_reads = [0, 0]
        self._slot_peeked = 0.0
        self._lag_hist: dict[str, list[tuple[float, float]]] = {}  # projector -> (epoch s, lag_s), last minute
        self._slot_age: tuple[float | None, float] = (
            None,
            0.0,
        )  # keyspace hits, misses caused by our own profile look-ups
        self._mongo_kept: tuple[MongoData | None, float, float] | None = None  # last read, its ms, when (epoch s)
        self._mongo_refresh: cf.Future | None = None
        self._mongo_slow_gw: Any = None  # a Posts gateway with a long timeout, for the background reads
        self.closed = False

    # ------------------------------------------------------------ frame
    def collect(self, prev: Snapshot | None = None) -> Snapshot:
        try:
            return self._collect(prev)
        except Exception as exc:  # noqa: BLE001 - a frame is always drawn
            now = time.time()
            return Snapshot(now, self.runtime_name, [self._down(s, _short(exc), prev, now, None) for s in SERVICES])

    def _collect(self, prev: Snapshot | None) -> Snapshot:
        t0 = time.perf_counter()
        now = time.time()
        deadline = t0 + (self.timeout if self._warm else max(self.timeout, FIRST_TIMEOUT))
        self._warm = True
        carried: dict[str, tuple] = {}
        fresh: dict[str, cf.Future] = {}
        suspect: set[str] = set()
        for name in TASKS:
            pending = self._pending.get(name)
            if pending is not None:
                fut, _ = pending
                if fut.done():
                    carried[name] = fut.result()
                    del self._pending[name]
                else:
                    suspect.add(name)  # still blocked since an earlier frame: do not pile up another
                    continue
            if prev is not None and name in SERVICES and not prev.ok(name):
                suspect.add(name)  # down last frame: retry in the background, do not hold the frame up
            deps = {"postgres": self._pending.get("postgres"), "kafka": self._pending.get("kafka")}
            fut = self._pool.submit(self._run, name, deps, "postgres" in suspect, "kafka" in suspect, deadline)
            self._pending[name] = (fut, now)
            fresh[name] = fut
        projectors = self._projectors()
        waited = [f for n, f in fresh.items() if n not in suspect]
        if waited:
            cf.wait(waited, timeout=max(0.0, deadline - time.perf_counter()))
        others = [f for n, f in fresh.items() if n in suspect]
        if others:  # a store that just came back shows at once
            cf.wait(others, timeout=max(0.0, min(GRACE, deadline - time.perf_counter())))

        results: dict[str, tuple] = {}
        for name in TASKS:
            pending = self._pending.get(name)
            done = pending[0] if pending is not None else None
            submitted = pending[1] if pending is not None else now
            if done is not None and done.done():
                results[name] = done.result()
                del self._pending[name]
            elif name in carried:
                results[name] = carried[name]
            elif self._last_error.get(name):  # still retrying: say why it failed last time
                results[name] = (None, None, self._last_error[name])
            else:
                results[name] = (None, None, f"no answer for {max(now - submitted, self.timeout):.1f}s")
            self._last_error[name] = results[name][2]

        snap = Snapshot(taken_at=now, runtime=self.runtime_name, projectors=projectors)
        for svc in SERVICES:
            data, ms, err = results[svc]
            if err is None:
                snap.services.append(
                    ServiceHealth(svc, True, self._labels.get(svc) or _default_label(svc), None, None, ms)
                )
                setattr(snap, svc, data)
            else:
                snap.services.append(self._down(svc, err, prev, now, ms))
            if svc == "kafka":
                snap.services += broker_services(self.settings, snap.kafka, err, prev, now)
        feed, _, _ = results["feed"]
        snap.feed = feed if feed is not None else (list(prev.feed) if prev else [])
        schemas, _, _ = results["schemas"]
        snap.schemas = schemas if schemas is not None else (list(prev.schemas) if prev else [])
        snap.collect_ms = round((time.perf_counter() - t0) * 1000, 2)
        return snap

    def _down(self, svc: str, err: str, prev: Snapshot | None, now: float, ms: float | None) -> ServiceHealth:
        before = prev.service(svc) if prev else None
        since = before.down_since if before is not None and not before.ok and before.down_since else now
        return ServiceHealth(svc, False, self._labels.get(svc) or _default_label(svc), err, since, ms)

    def _run(self, name: str, deps: dict, pg_suspect: bool, kafka_suspect: bool, deadline: float) -> tuple:
        t = time.perf_counter()
        try:
            data: Any
            if name == "redis":
                data = self._c_redis(deps.get("postgres"), t if pg_suspect else deadline)
            elif name == "feed":
                data = self._c_feed(deps.get("kafka"), t if kafka_suspect else deadline)
            elif name == "schemas":
                data = self._c_schemas(deps.get("kafka"), t if kafka_suspect else deadline)
            else:
                data = getattr(self, f"_c_{name}")()
            return data, round((time.perf_counter() - t) * 1000, 2), None
        except Exception as exc:  # noqa: BLE001 - every collector catches its own errors
            self._drop(name)
            return None, round((time.perf_counter() - t) * 1000, 2), _short(exc)

    # ------------------------------------------------------------ clients
    def _client(self, name: str, make) -> Any:
        with self._client_lock:
            client = self._clients.get(name)
        if client is None:
            client = make()
            with self._client_lock:
                self._clients[name] = client
        return client

    def _drop(self, name: str) -> None:
        """Forget a gateway that failed, when its client cannot heal itself (psycopg); the others reconnect."""
        if name in ("postgres", "timeseries"):
            self.stores.drop(GATEWAY_OF[name])

    def _consumer(self):
        from confluent_kafka import Consumer

        from polydemo.stores import kafka

        return self._client(
            "feed",
            lambda: Consumer(
                kafka.client_config(
                    self.settings,
                    **{
                        # assign() only: never joins, never commits
                        "group.id": f"{self.settings.topic_prefix}-dashboard",
                        "enable.auto.commit": False,
                        "enable.auto.offset.store": False,
                        "enable.partition.eof": True,
                        "auto.offset.reset": "earliest",
                        "fetch.wait.max.ms": 10,
                    },
                )
            ),
        )

    # ------------------------------------------------------------ collectors
    def _c_postgres(self) -> PostgresData:
        users = self.stores.users
        if "postgres" not in self._labels:
            self._labels["postgres"] = users.label()
        # Exact while small, catalog estimates at scale (a count(*) of 100,000 rows every frame costs ~20 ms).
        n_users, n_follows, users_est, follows_est = users.screen_counts()
        latest = [UserRow(u.id, u.name, u.email, _iso(u.created_at)) for u in users.latest(SAMPLE)]
        return PostgresData(n_users, n_follows, latest, self._slot(users), users_est, follows_est)

    def _slot(self, users) -> SlotData | None:
        """The slot every frame; its oldest unsent change (a peek of a copy) at most every SLOT_PEEK_S."""
        now = time.monotonic()
        peek = now - self._slot_peeked >= SLOT_PEEK_S
        info = users.slot(peek=peek)
        if peek:
            self._slot_peeked, self._slot_age = now, (info.oldest_unsent_age_s, time.time())
        elif info.unsent_bytes and self._slot_age[0] is not None:
            info.oldest_unsent_age_s = self._slot_age[0] + (time.time() - self._slot_age[1])
        return SlotData(**info.as_dict())

    def _c_timeseries(self) -> TimeseriesData:
        events = self.stores.events
        if "timeseries" not in self._labels:
            self._labels["timeseries"] = events.label()
        total, minutes, per_type = events.per_minute(WINDOW_MINUTES, exact_below=EXACT_BELOW)
        return TimeseriesData(total, [m.isoformat() for m in minutes], per_type, events.total_estimated)

    def _c_mongo(self) -> MongoData:
        """The posts panel. SecantusDB counts and sorts by scanning every post (seconds at 50,000 on 2 busy cores,
        even with the index), so once a read took longer than :data:`SLOW_MS` (or timed out) the frame shows the
        last answer (``MongoData.as_of``) and the next one is read in the background, with a 30 s timeout; a
        failed background read fails the next frame."""
        import pymongo.errors

        kept, refresh = self._mongo_kept, self._mongo_refresh
        if kept is None or kept[1] <= SLOW_MS:
            try:
                return self._read_mongo(self.stores.posts)
            except (pymongo.errors.NetworkTimeout, pymongo.errors.ExecutionTimeout):
                kept = self._mongo_kept = (None, float("inf"), 0.0)  # slow, not down: read in the background
        if refresh is None or refresh.done():
            if refresh is not None and refresh.exception() is not None:
                self._mongo_kept, self._mongo_refresh = None, None
                raise refresh.exception()  # type: ignore[misc]
            self._mongo_refresh = self._pool.submit(self._read_mongo, self._slow_posts())
        kept = self._mongo_kept or kept
        if kept[0] is None:  # slow, not down: the panel says it is counting (it once showed Mongo as down)
            return MongoData(None)
        return MongoData(kept[0].posts, kept[0].latest, as_of=kept[2])

    def _slow_posts(self):
        if self._mongo_slow_gw is None:
            from polydemo.stores.mongo import Posts

            self._mongo_slow_gw = Posts(self.settings, timeout=30.0)
        return self._mongo_slow_gw

    def _read_mongo(self, posts) -> MongoData:
        t0 = time.perf_counter()
        if "mongo" not in self._labels:
            self._labels["mongo"] = posts.label()
        data = MongoData(
            posts.estimated_count(), [PostRow(p.id, p.title, p.likes, p.author_id) for p in posts.latest(SAMPLE)]
        )
        self._mongo_kept = (data, (time.perf_counter() - t0) * 1000, time.time())
        return data

    def _c_neo4j(self) -> Neo4jData:
        g = self.stores.graph
        # The first query of a cold graph (plan cache, page cache) may take seconds on a busy machine.
        counts = g.counts(SAMPLE, timeout=self.timeout if "neo4j" in self._labels else FIRST_TIMEOUT)
        label = g.label()
        if "neo4j" not in self._labels and label:
            self._labels["neo4j"] = label
        return Neo4jData(
            counts.nodes,
            counts.users,
            counts.follows,
            [Followed(t.get("id"), t.get("name"), t["followers"]) for t in counts.top],
        )

    def _c_redis(self, pg_pending, wait_until: float) -> RedisData:
        gw = self.stores.cache
        if "redis" not in self._labels:
            self._labels["redis"] = gw.label()
        keys, all_hits, all_misses, used_memory, maxmemory = gw.keyspace()
        profiles = gw.profile_count()
        # The entries of the latest Postgres users (so a new sign-up shows "not in Redis yet", then its row).
        ids, source = None, "latest users"
        if pg_pending is not None:
            try:
                pg, _, _ = pg_pending[0].result(timeout=max(0.0, wait_until - time.perf_counter()))
                ids = [u.id for u in pg.latest] if pg is not None else None
            except cf.TimeoutError:  # Postgres slow or paused: fall back to a sample from Redis
                ids = None
        if ids is None:
            ids, source = gw.some_ids(SAMPLE), "scan"
        sample = [CachedProfile(p.id, p.name, p.email, p.ttl) for p in gw.profiles(ids)]
        # Our own look-ups are keyspace hits and misses too: leave them out of the figures shown.
        own_hits, own_misses = self._own_reads
        hits = max(0, all_hits - own_hits)
        misses = max(0, all_misses - own_misses)
        for p in sample:
            self._own_reads[0 if p.ttl is not None else 1] += 2
        self._own_reads[0] += 1  # the SCARD of the index
        return RedisData(profiles, True, keys, hits, misses, sample, source, used_memory, maxmemory)

    def _topic_names(self) -> list[str]:
        if self._topics is None:
            from polydemo.pipeline.topics import all_topics

            self._topics = all_topics(self.settings)
        return self._topics

    def _c_kafka(self) -> KafkaData:
        from polydemo.pipeline import lag
        from polydemo.pipeline.projector import group_id

        kafka = self.stores.kafka
        if "kafka" not in self._labels:
            self._labels["kafka"] = _default_label("kafka")
        # One metadata and one offsets request for every partition's leader, ISR and high watermark.
        states, highs, brokers = kafka.cluster_view(self._topic_names(), timeout=self.timeout)
        data = KafkaData(
            partitions=[
                TopicHigh(s.topic, s.partition, highs.get((s.topic, s.partition), 0), s.leader, [*s.isr], [*s.replicas])
                for s in states
            ],
            brokers=sorted(brokers),
        )
        now = time.time()
        partitions = lag.projector_partitions(self.settings, kafka, highs)
        seconds = lag.projector_lag_seconds(self.settings, kafka, partitions, now * 1000)
        from polydemo.pipeline import workers

        members = {group_id(self.settings, p): workers.members(self.settings, p) for p in partitions}
        for projector, rows in partitions.items():
            owners = partition_owners(members.get(group_id(self.settings, projector), []))
            parts = [
                PartLag(
                    r.topic,
                    r.partition,
                    r.committed if r.committed is None or r.committed >= 0 else None,
                    r.high,
                    r.lag,
                    owners.get((r.topic, r.partition)),
                )
                for r in rows
            ]
            data.groups.append(
                GroupLag(
                    projector,
                    group_id(self.settings, projector),
                    sum(p.committed or 0 for p in parts),
                    sum(p.lag for p in parts),
                    parts,
                    None if seconds[projector] is None else round(seconds[projector] or 0.0, 2),
                    self._trend(projector, now, seconds[projector]),
                    len(members.get(group_id(self.settings, projector), [])),
                )
            )
        return data

    def _trend(self, projector: str, now: float, value: float | None) -> list[float]:
        """Keep the last minute of lag seconds; the trend is the highest of each TREND_S slot (0 if none)."""
        hist = [(t, v) for t, v in self._lag_hist.get(projector, []) if now - t < TREND_WINDOW_S]
        if value is not None:
            hist.append((now, value))
        self._lag_hist[projector] = hist
        return lag_trend(hist, now)

    def _c_connect(self) -> ConnectData:
        from polydemo.pipeline import connector

        gw = self.stores.connect
        doc = gw.status()
        if self._connect_version is None:
            self._connect_version = gw.version()
        dbz = ((doc or {}).get("connector") or {}).get("version") or ""
        self._labels["connect"] = f"Kafka Connect {self._connect_version}" + (
            f" + Debezium {dbz.removesuffix('.Final')}" if dbz else ""
        )
        state, _ = connector.states(doc)
        tasks = [
            ConnectTask(
                int(t.get("id", i)),
                t.get("state", "?"),
                (t.get("trace") or "").strip().splitlines()[0][:160] if t.get("trace") else None,
            )
            for i, t in enumerate((doc or {}).get("tasks", []))
        ]
        return ConnectData(self.settings.connector_name, state, tasks)

    def _c_feed(self, kafka_pending, wait_until: float) -> list[FeedItem] | None:
        """The last messages across the polydemo topics: the tail of each partition whose end moved."""
        from confluent_kafka import KafkaError, TopicPartition

        if kafka_pending is None:
            return None
        kd, _, _ = kafka_pending[0].result(timeout=max(0.0, wait_until - time.perf_counter()))
        if kd is None:
            return None
        n = self.feed_size
        changed = {
            (p.topic, p.partition): p.high
            for p in kd.partitions
            if self._feed_highs.get((p.topic, p.partition)) != p.high
        }
        to_read = {tp: high for tp, high in changed.items() if high > 0}
        got: dict[tuple[str, int], list[FeedItem]] = {tp: [] for tp in to_read}
        remaining: dict[tuple[str, int], int] = {}
        if to_read:
            consumer = self._consumer()
            consumer.assign([TopicPartition(t, p, max(0, high - n)) for (t, p), high in to_read.items()])
            remaining = dict(to_read)
            end = time.perf_counter() + FEED_READ_S
            try:
                while remaining and time.perf_counter() < end:
                    for m in consumer.consume(num_messages=200, timeout=min(0.05, max(0.0, end - time.perf_counter()))):
                        tp = (m.topic(), m.partition())
                        if m.error():
                            if m.error().code() == KafkaError._PARTITION_EOF:
                                remaining.pop(tp, None)
                            continue
                        if tp in got:
                            got[tp].append(self._feed_item(m))
                        if tp in remaining and m.offset() >= remaining[tp] - 1:
                            remaining.pop(tp)
            finally:
                consumer.unassign()
        for tp, high in changed.items():
            if tp in to_read and tp in remaining:
                continue  # not read to the end in time: try again next frame
            self._feed[tp] = got.get(tp, [])[-n:]
            self._feed_highs[tp] = high
        items = [i for tail in self._feed.values() for i in tail]
        items.sort(key=lambda i: (i.ts_ms, i.offset), reverse=True)
        return items[:n]

    def _c_schemas(self, kafka_pending, wait_until: float) -> list[TopicSchema] | None:
        """The CDC topics' value schema versions, read off the frame's path: each frame starts the next read in
        the background (when the last one is done) and shows what the last one found, so a long history (200,000
        sign-ups after a few `load`s) costs the frames nothing. The very first frame (and a one-shot
        ``snapshot``) waits for its read, for up to FIRST_SCHEMA_WAIT_S."""
        if kafka_pending is None:
            return None
        kd, _, _ = kafka_pending[0].result(timeout=max(0.0, wait_until - time.perf_counter()))
        if kd is None:
            return None
        fut = self._schema_future
        if fut is None or fut.done():
            if fut is not None:
                try:
                    self._schema_view = fut.result()
                except Exception as exc:  # noqa: BLE001 - shown as before; the next read tries again
                    log.debug("schema read failed: %s", _short(exc))
            fut = self._schema_future = self._schema_pool.submit(self._read_schemas, kd, self._schema_view is None)
        if not self._schema_waited:  # once: later frames never wait for a read
            self._schema_waited = True
            with contextlib.suppress(cf.TimeoutError):
                self._schema_view = fut.result(timeout=FIRST_SCHEMA_WAIT_S)
        return self._schema_view

    def _read_schemas(self, kd, first: bool) -> list[TopicSchema]:
        """Read the messages that arrived since the last read (the positions are kept; the first read takes the
        history for up to FIRST_SCHEMA_READ_S, a longer one continues in the next reads); a topic whose id
        changed (``reset``) or whose end went back is read again from its start."""
        from polydemo.pipeline.events import topics
        from polydemo.pipeline.schemas import SchemaLog

        names = topics(self.settings.topic_prefix)
        cdc = {names[k]: k for k in CDC_TOPICS}
        highs = {(p.topic, p.partition): p.high for p in kd.partitions if p.topic in cdc}
        kafka = self.stores.kafka
        if highs != self._schema_highs or not self._schema_ids:  # an idle stack costs no request
            ids = kafka.topic_ids(list(cdc), timeout=self.timeout)
            for t in cdc:
                went_back = any(highs.get(tp, 0) < pos for tp, pos in self._schema_pos.items() if tp[0] == t)
                gone = t not in ids or not any(tp[0] == t for tp in highs)
                if went_back or gone or (t in self._schema_ids and ids.get(t) != self._schema_ids[t]):
                    self._schema_logs.pop(t, None)
                    self._schema_pos = {tp: pos for tp, pos in self._schema_pos.items() if tp[0] != t}
                    self._schema_ids.pop(t, None)
            self._schema_ids.update(ids)

        def see(m) -> None:
            _, ts = m.timestamp()
            self._schema_logs.setdefault(m.topic(), SchemaLog()).see_message(
                m.value(), (int(ts or 0), m.partition() or 0, m.offset() or 0)
            )

        reached = kafka.read_ranges(
            self._schema_pos,
            highs,
            see,
            budget=FIRST_SCHEMA_READ_S if first or not self._schema_pos else SCHEMA_READ_S,
            stop=self._closing,
        )
        self._schema_pos.update(reached)
        self._schema_highs = highs
        out = []
        for t, short in cdc.items():
            if not any(tp[0] == t for tp in highs):
                continue  # no such topic (yet)
            view = self._schema_logs.get(t, SchemaLog()).view()
            out.append(
                TopicSchema(
                    short,
                    view.version,
                    view.versions,
                    [SchemaField(f.name, f.type, f.optional) for f in view.fields],
                    list(view.diff.added),
                    list(view.diff.removed),
                    list(view.diff.changed),
                    view.messages,
                    any(self._schema_pos.get(tp, 0) < h for tp, h in highs.items() if tp[0] == t),
                )
            )
        return out

    def _feed_item(self, m) -> FeedItem:
        prefix = self.settings.topic_prefix + "."
        topic = m.topic().removeprefix(prefix)
        _, ts = m.timestamp()
        op, detail = _feed_summary(topic, m.value(), m.headers())
        return FeedItem(
            topic, m.partition(), m.offset(), _feed_key(m.key()), op, detail, int(ts) if ts and ts > 0 else 0
        )

    def _projectors(self) -> list[WorkerRow]:
        from polydemo.pipeline import workers

        rows = []
        for name in (*workers.WORKERS, *workers.running_optional(self.settings)):
            try:
                for st in workers.statuses(self.settings, name):  # every instance (`projector scale`)
                    label = st.name if st.instance == 1 else f"{st.name}#{st.instance}"
                    rows.append(WorkerRow(label, st.running, st.state, st.pid, st.processed, st.last_error))
            except Exception as exc:  # noqa: BLE001
                rows.append(WorkerRow(name, False, "unknown", last_error=_short(exc)))
        return rows

    # ------------------------------------------------------------ shutdown
    def busy(self) -> list[str]:
        """Collectors still blocked (on a paused server, say)."""
        return [n for n, (f, _) in self._pending.items() if not f.done()]

    def close(self) -> list[str]:
        """Close every client; returns the collectors still blocked (their threads end when their socket does)."""
        self.closed = True
        self._closing.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._schema_pool.shutdown(wait=False, cancel_futures=True)
        if self._schema_future is not None:  # its read uses the Kafka gateway's consumer: let it end first
            with contextlib.suppress(Exception):
                self._schema_future.result(timeout=FIRST_SCHEMA_READ_S + 1.0)
        stuck = self.busy()
        with self._client_lock:
            clients, self._clients = self._clients, {}
        for name, client in clients.items():  # the feed's consumer
            if name not in stuck:
                client.close()
        if self._mongo_slow_gw is not None and not (self._mongo_refresh and not self._mongo_refresh.done()):
            self._mongo_slow_gw.close()
        for task, gateway in GATEWAY_OF.items():
            if task not in stuck:  # a blocked collector still uses its client: its thread ends with the socket
                self.stores.drop(gateway)
        return stuck


def _short_id(value: Any) -> str:
    text = str(value)
    return text[:8] if len(text) >= 32 else text


def _feed_key(raw: bytes | None) -> str:
    if raw is None:
        return "-"
    try:
        key = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _short_id(raw.decode("utf-8", "replace"))
    if isinstance(key, dict):
        key = key.get("payload", key) if "payload" in key and "schema" in key else key
        if "follower_id" in key and "followee_id" in key:
            return f"{_short_id(key['follower_id'])}→{_short_id(key['followee_id'])}"
        if "id" in key:
            return _short_id(key["id"])
        return ",".join(_short_id(v) for v in key.values())[:24]
    return _short_id(key)


DBZ_OPS = {"c": "insert", "r": "snapshot", "u": "update", "d": "delete", "t": "truncate"}


def _feed_summary(topic: str, raw: bytes | None, headers) -> tuple[str, str]:
    """(op, detail) of one message, for the event feed."""
    if raw is None:
        return "tombstone", ""
    if topic == "dlq":
        reason = dict(headers or []).get("dlq.reason", b"")
        return "dead letter", reason.decode("utf-8", "replace")[:80]
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return "?", f"{len(raw)} bytes, not JSON"
    if not isinstance(value, dict):
        return "?", type(value).__name__
    if "payload" in value and "op" not in value:
        value = value.get("payload") or {}
    if "source" in value and "op" in value:  # Debezium
        op = DBZ_OPS.get(value.get("op"), value.get("op") or "?")
        row = value.get("after") or value.get("before") or {}
        if topic.endswith("follows"):
            return {"insert": "follow", "snapshot": "follow", "delete": "unfollow"}.get(op, op), ""
        return op, str(row.get("name") or row.get("email") or "")
    op = str(value.get("op", "?"))
    title = str(value.get("title") or "")
    if op == "update" and value.get("likes_changed"):
        return "like", f"♥{value.get('likes')} {title}".strip()
    return op, title


# ---------------------------------------------------------------- module-level API

_COLLECTORS: dict[str, Collector] = {}
_LOCK = threading.Lock()


def collector_for(settings: Settings, runtime_name: str = "local") -> Collector:
    key = repr(settings)  # no passwords in it (repr=False), but every port, path and name
    with _LOCK:
        col = _COLLECTORS.get(key)
        if col is None or col.closed:
            col = _COLLECTORS[key] = Collector(settings, runtime_name)
        col.runtime_name = runtime_name
        return col


def collect(settings: Settings, runtime_name: str, prev: Snapshot | None = None) -> Snapshot:
    """One frame. Never raises; reuses the connections of earlier calls with the same Settings."""
    try:
        return collector_for(settings, runtime_name).collect(prev)
    except Exception as exc:  # noqa: BLE001
        now = time.time()
        return Snapshot(now, runtime_name, [ServiceHealth(s, False, s, _short(exc), now) for s in SERVICES])


def close_all() -> list[str]:
    with _LOCK:
        cols = list(_COLLECTORS.values())
        _COLLECTORS.clear()
    stuck: list[str] = []
    for col in cols:
        stuck += col.close()
    return stuck


atexit.register(close_all)
