"""The three projectors: graph (Neo4j), cache (Redis), analytics (time-series), and the optional fourth,
wtf ("who to follow", Redis), added while the demo runs. Each write is idempotent."""

from __future__ import annotations

from polydemo.pipeline.events import Change, analytics_events
from polydemo.pipeline.loop import Projector
from polydemo.stores import cache, graph, timeseries

WRITE_TIMEOUT_S = 10.0
"""The analytics projector's bound on a time-series statement and on any wait for its server: a frozen store
fails the batch after this, the loop says "retrying" and tries again (Redis and Neo4j have their own bounds:
stores/cache.py, stores/graph.py)."""


class GraphProjector(Projector):
    """(:User {id, name}) nodes and FOLLOWS edges, MERGEd by source ids (``stores.graph.Graph.apply``)."""

    name = "graph"
    sources = ("users", "follows")

    graph: graph.Graph | None = None

    def open(self) -> None:
        self.graph = graph.Graph(self.settings)
        self.graph.ensure_schema()

    def close(self) -> None:
        if self.graph is not None:
            self.graph.close()
            self.graph = None

    def apply(self, changes: list[Change]) -> None:
        assert self.graph is not None, "apply before open"
        self.graph.apply(changes)


class CacheProjector(Projector):
    """The Redis profile projection (see ``stores.cache``): complete, no TTL, kept exact by CDC."""

    name = "cache"
    sources = ("users", "follows")

    def open(self) -> None:
        self.cache = cache.Cache(self.settings)
        self.cache.client.ping()
        self.cache.ensure_schema()

    def close(self) -> None:
        if getattr(self, "cache", None):
            self.cache.close()

    def apply(self, changes: list[Change]) -> None:
        self.cache.apply(changes)


class AnalyticsProjector(Projector):
    """Rows in the time-series ``events`` table, upserted on (event_id, time): a replay inserts nothing."""

    name = "analytics"
    sources = ("users", "follows", "posts")

    events: timeseries.Events | None = None

    def open(self) -> None:
        self.events = timeseries.Events(self.settings, autocommit=False, timeout=WRITE_TIMEOUT_S)
        self.events.conn.execute("SELECT 1")
        self.events.conn.commit()

    def close(self) -> None:
        if self.events is not None:
            self.events.close()
            self.events = None

    def apply(self, changes: list[Change]) -> None:
        assert self.events is not None, "apply before open"
        self.events.insert(e for c in changes for e in analytics_events(c))


class WhoToFollowProjector(Projector):
    """Friends of friends per user (``stores.cache.Cache.apply_who_to_follow``): its own copy of the follow
    edges, and ``wtf:<id>`` recomputed whole for each affected user, so a replay from offset 0 (a new
    consumer group on the compacted CDC topics) builds exactly the current answer."""

    name = "wtf"
    sources = ("follows",)

    def open(self) -> None:
        self.cache = cache.Cache(self.settings)
        self.cache.client.ping()

    def close(self) -> None:
        if getattr(self, "cache", None):
            self.cache.close()

    def apply(self, changes: list[Change]) -> None:
        self.cache.apply_who_to_follow(changes)


CORE_PROJECTORS = {p.name: p for p in (GraphProjector, CacheProjector, AnalyticsProjector)}
"""The projectors every stack runs (``up`` starts them; lag, ``seed`` and ``converged`` wait for them)."""

OPTIONAL_PROJECTORS: dict[str, type[Projector]] = {p.name: p for p in (WhoToFollowProjector,)}
"""Added and removed while the demo runs (``projector add|remove``); counted in lag only while running."""

ALL_PROJECTORS: dict[str, type[Projector]] = {**CORE_PROJECTORS, **OPTIONAL_PROJECTORS}
