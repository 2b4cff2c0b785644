"""The three projectors: graph (Neo4j), cache (Redis), analytics (time-series). Each write is idempotent."""

from __future__ import annotations

import json
from itertools import groupby

from polydemo.pipeline.events import Change, analytics_events
from polydemo.pipeline.projector import Projector
from polydemo.stores import cache, graph, timeseries

def _runs(changes: list[Change]):
    """Consecutive changes of the same kind, in order: each run is one batched write."""
    return groupby(changes, key=lambda c: (c.entity, c.op))


class GraphProjector(Projector):
    """(:User {id, name}) nodes and FOLLOWS edges, MERGEd by source ids."""

    name = "graph"
    sources = ("users", "follows")

    def open(self) -> None:
        self.driver = graph.connect(self.settings)
        with self.driver.session() as s:
            s.run("CREATE CONSTRAINT user_id IF NOT EXISTS FOR (u:User) REQUIRE u.id IS UNIQUE").consume()

    def close(self) -> None:
        if getattr(self, "driver", None):
            self.driver.close()
            self.driver = None

    def apply(self, changes: list[Change]) -> None:
        with self.driver.session() as s:
            for (entity, op), run in _runs(changes):
                rows = list(run)
                if entity == "user" and op in ("create", "update"):
                    s.run("UNWIND $rows AS r MERGE (u:User {id: r.id}) SET u.name = r.name, u.email = r.email",
                          rows=[{"id": c.key["id"], "name": (c.after or {}).get("name"),
                                 "email": (c.after or {}).get("email")} for c in rows]).consume()
                elif entity == "user" and op == "delete":
                    s.run("UNWIND $ids AS id MATCH (u:User {id: id}) DETACH DELETE u",
                          ids=[c.key["id"] for c in rows]).consume()
                elif entity == "follow" and op == "create":
                    s.run("UNWIND $rows AS r MERGE (a:User {id: r.follower_id}) MERGE (b:User {id: r.followee_id}) "
                          "MERGE (a)-[:FOLLOWS]->(b)", rows=[c.key for c in rows]).consume()
                elif entity == "follow" and op == "delete":
                    s.run("UNWIND $rows AS r MATCH (:User {id: r.follower_id})-[f:FOLLOWS]->(:User {id: r.followee_id}) "
                          "DELETE f", rows=[c.key for c in rows]).consume()


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

    def open(self) -> None:
        self.conn = timeseries.connect(self.settings, autocommit=False)

    def close(self) -> None:
        if getattr(self, "conn", None):
            try:
                self.conn.close()
            finally:
                self.conn = None

    def apply(self, changes: list[Change]) -> None:
        rows = [e for c in changes for e in analytics_events(c)]
        if not rows:
            return
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO events (time, user_id, event_type, properties, event_id) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (event_id, time) DO NOTHING",
                [(r["time"], r["user_id"], r["event_type"], json.dumps(r["properties"]), r["event_id"]) for r in rows],
            )
        self.conn.commit()


PROJECTORS = {p.name: p for p in (GraphProjector, CacheProjector, AnalyticsProjector)}
