"""One gateway per store: the only place that knows a store's connection, schema and queries.

=============  ======================  ==================================================
module         gateway                 what it owns
=============  ======================  ==================================================
postgres       :class:`Users`          users, follows, the publication, the Debezium slot
mongo          :class:`Posts`          posts, the relay's saved token, the change stream
graph          :class:`Graph`          (:User) nodes, FOLLOWS edges, the uniqueness constraint
cache          :class:`Cache`          the Redis profile projection and follower sets
timeseries     :class:`Events`         the events table (hypertable or partitions)
kafka          :class:`KafkaAdmin`     topics, consumer groups, watermarks, committed offsets
connect        :class:`Connect`        Kafka Connect's REST API for the Debezium connector
=============  ======================  ==================================================

:data:`REGISTRY` is the one list of them (service, gateway, label, client library); the ports, the
health probes, the :class:`Stores` bundle and the CLI's "cannot reach …" message all read it.
Each module also has ``connect(settings)`` (a client of the store's official library) and
``health(settings)``, which speaks the store's own protocol and never raises. A :class:`Stores`
bundle is built once from Settings and handed to the projectors' callers, the dashboard collector,
the scenario runner and checks, ``seed``, ``reset`` and ``reads``: one connection per store, reused.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

if TYPE_CHECKING:
    from polydemo.config import Settings
    from polydemo.stores.cache import Cache
    from polydemo.stores.connect import Connect
    from polydemo.stores.graph import Graph
    from polydemo.stores.kafka import KafkaAdmin
    from polydemo.stores.mongo import Posts
    from polydemo.stores.postgres import Users
    from polydemo.stores.timeseries import Events

log = logging.getLogger(__name__)


@dataclass
class Health:
    ok: bool
    detail: str = ""
    version: str | None = None

    @classmethod
    def down(cls, exc: BaseException | str) -> Health:
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        return cls(False, text.strip().splitlines()[0][:200] if text.strip() else "down")


@dataclass(frozen=True)
class Store:
    """One store, as everything above ``stores/`` names it: the one registry, :data:`REGISTRY`."""

    service: str  # the runtime's name for its server (ports, status, health, logs)
    attr: str  # the gateway's attribute on :class:`Stores`
    module: str  # polydemo.stores.<module>: the gateway, ``connect`` and ``health``
    gateway: str  # the gateway's class in that module
    label: str  # what an error or a table calls it
    client: str  # the top-level module of its client library (where its exceptions come from)


REGISTRY: tuple[Store, ...] = (
    Store("postgres", "users", "postgres", "Users", "PostgreSQL", "psycopg"),
    Store("timeseries", "events", "timeseries", "Events", "TimescaleDB (the events table)", "psycopg"),
    Store("mongo", "posts", "mongo", "Posts", "the Mongo-wire server", "pymongo"),
    Store("neo4j", "graph", "graph", "Graph", "Neo4j", "neo4j"),
    Store("redis", "cache", "cache", "Cache", "Redis", "redis"),
    Store("kafka", "kafka", "kafka", "KafkaAdmin", "Kafka", "confluent_kafka"),
    Store("connect", "connect", "connect", "Connect", "Kafka Connect", "httpx"),
)
BY_SERVICE = {s.service: s for s in REGISTRY}
BY_ATTR = {s.attr: s for s in REGISTRY}
# A client exception's top-level module -> the store it came from. psycopg serves two stores; its errors
# are named for the system of record. librdkafka's errors come from ``cimpl``.
BY_CLIENT = {**{s.client: s for s in reversed(REGISTRY)}, "cimpl": BY_SERVICE["kafka"]}


def import_clients() -> None:
    """Import every store module, and so its client library, now: a caller about to read the stores from many
    threads at once (the dashboard's sources) calls this first, because an import takes a lock."""
    for module in dict.fromkeys(s.module for s in REGISTRY):
        importlib.import_module(f"polydemo.stores.{module}")


def health_of(service: str, settings) -> Health:
    """The store's own-protocol health check for one service (both runtimes use this)."""
    return importlib.import_module(f"polydemo.stores.{BY_SERVICE[service].module}").health(settings)


C = TypeVar("C")


class Gateway(Generic[C]):
    """What every gateway shares: its client, made on first use (or passed in and then not closed here),
    made again when it broke; ``with`` closes it; ``health`` is the service's own probe."""

    service: ClassVar[str]

    def __init__(self, settings: Settings, client: C | None = None, timeout: float | None = None):
        self.settings = settings
        self._client = client
        self._own = client is None
        self._timeout = timeout

    def _connect(self) -> C:
        raise NotImplementedError

    def _usable(self, client: C) -> bool:
        """False when the client cannot heal itself (a closed or broken psycopg connection)."""
        return True

    @property
    def client(self) -> C:
        if self._client is None or not self._usable(self._client):
            self._client = self._connect()
        return self._client

    def close(self) -> None:
        if self._own and self._client is not None:
            client, self._client = self._client, None
            client.close()  # type: ignore[attr-defined]

    def __enter__(self: G) -> G:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def health(self) -> Health:
        return health_of(self.service, self.settings)


G = TypeVar("G", bound=Gateway)


@contextmanager
def borrowed(cls: type[G], settings: Settings, gateway: G | None = None) -> Iterator[G]:
    """``gateway`` when the caller has one (its connection is reused); else a new ``cls``, closed on exit."""
    if gateway is not None:
        yield gateway
        return
    with cls(settings) as own:
        yield own


class Stores:
    """Every gateway, each made on first use and kept (one connection per store) until :meth:`close`.

    ``timeout`` (seconds) gives every client short timeouts, for callers that must not hang on a
    paused server (the dashboard). Thread-safe to build; each gateway is used by one thread at a time.
    """

    def __init__(self, settings: Settings, timeout: float | None = None):
        self.settings = settings
        self.timeout = timeout
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def gateway(self, attr: str) -> Any:
        """The gateway named ``attr`` (a :data:`REGISTRY` entry's ``attr``), made on first use."""
        store = BY_ATTR.get(attr)
        if store is None:
            raise KeyError(f"no store gateway called {attr!r}: one of {', '.join(BY_ATTR)}")
        with self._lock:
            gw = self._made.get(attr)
            if gw is None:
                klass = getattr(importlib.import_module(f"polydemo.stores.{store.module}"), store.gateway)
                kwargs = {} if self.timeout is None else {"timeout": self.timeout}
                gw = self._made[attr] = klass(self.settings, **kwargs)
            return gw

    # Typed access; each imports its client library only when first used.
    @property
    def users(self) -> Users:
        return self.gateway("users")

    @property
    def events(self) -> Events:
        return self.gateway("events")

    @property
    def posts(self) -> Posts:
        return self.gateway("posts")

    @property
    def graph(self) -> Graph:
        return self.gateway("graph")

    @property
    def cache(self) -> Cache:
        return self.gateway("cache")

    @property
    def kafka(self) -> KafkaAdmin:
        return self.gateway("kafka")

    @property
    def connect(self) -> Connect:
        return self.gateway("connect")

    def made(self, name: str) -> bool:
        return name in self._made

    def drop(self, name: str) -> None:
        """Forget one gateway (after its connection broke); the next use makes a new one."""
        with self._lock:
            gw = self._made.pop(name, None)
        if gw is not None:
            _close(name, gw)

    def close(self) -> None:
        with self._lock:
            made, self._made = self._made, {}
        for name, gw in made.items():
            _close(name, gw)

    def __enter__(self) -> Stores:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def using(settings: Settings, stores: Stores | None = None) -> Iterator[Stores]:
    """``stores`` when the caller has a bundle; else a new one, closed on exit."""
    if stores is not None:
        yield stores
        return
    own = Stores(settings)
    try:
        yield own
    finally:
        own.close()


def _close(name: str, gw: Any) -> None:
    try:
        gw.close()
    except Exception as exc:  # noqa: BLE001 - closing a connection that already broke: nothing left to do
        log.debug("closing the %s gateway: %s", name, exc)
