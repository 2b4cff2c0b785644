"""The dashboard's data: one frame as a tree of plain dataclasses (JSON-serialisable, ``to_dict``/``from_dict``).

Pure data, no clients: the collector (dashboard/collector.py, through the sources in dashboard/sources/) fills a
:class:`Snapshot`; the renderer, the recorded fixtures and the tests only ever see this.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any


@dataclass
class ServiceHealth:
    name: str
    ok: bool
    label: str = ""  # the engine, e.g. "PostgreSQL 15, partitioned (timescaledb not installed)"
    error: str | None = None
    down_since: float | None = None  # epoch seconds of the first failed frame in a row
    ms: float | None = None  # how long its collector took
    # Its data directory's filesystem when full or low (polydemo/diskspace.py): "full" or "low", and the one line
    # that names the directory, its free space and the fix. None: enough space, or not known (docker runtime).
    disk: str | None = None
    disk_line: str | None = None


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
