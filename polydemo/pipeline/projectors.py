"""The three projectors: graph (Neo4j), cache (Redis), analytics (time-series). Each write is idempotent."""

from __future__ import annotations

import json
from itertools import groupby

from polydemo.pipeline.events import Change, analytics_events
from polydemo.pipeline.projector import Projector
from polydemo.stores import cache, graph, timeseries

PROFILE_TTL_S = 3600


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
    """Profiles as hashes with a TTL (overwritten on update, deleted on delete); follower sets.

    Sets, not counters: SADD/SREM are idempotent, so a replayed follow never counts twice;
    the follower count is SCARD.
    """

    name = "cache"
    sources = ("users", "follows")

    def open(self) -> None:
        self.r = cache.connect(self.settings)
        self.r.ping()

    def close(self) -> None:
        if getattr(self, "r", None):
            self.r.close()

    def apply(self, changes: list[Change]) -> None:
        # Emails of users about to be deleted (a delete event carries only the key).
        deleted = [c.key["id"] for c in changes if c.entity == "user" and c.op == "delete"]
        emails = {uid: self.r.hget(cache.profile_key(uid), "email") for uid in deleted}
        pipe = self.r.pipeline(transaction=False)
        for c in changes:
            if c.entity == "user" and c.op in ("create", "update"):
                a = c.after or {}
                key = cache.profile_key(c.key["id"])
                pipe.hset(key, mapping={"id": c.key["id"], "email": a.get("email") or "", "name": a.get("name") or "",
                                        "updated_at": str(a.get("updated_at") or ""), "source_ts_ms": c.ts_ms})
                pipe.expire(key, PROFILE_TTL_S)
                if a.get("email"):
                    pipe.set(cache.email_key(a["email"]), c.key["id"], ex=PROFILE_TTL_S)
            elif c.entity == "user" and c.op == "delete":
                uid = c.key["id"]
                pipe.delete(cache.profile_key(uid), cache.followers_key(uid), cache.following_key(uid))
                if emails.get(uid):
                    pipe.delete(cache.email_key(emails[uid]))
            elif c.entity == "follow" and c.op == "create":
                pipe.sadd(cache.followers_key(c.key["followee_id"]), c.key["follower_id"])
                pipe.sadd(cache.following_key(c.key["follower_id"]), c.key["followee_id"])
            elif c.entity == "follow" and c.op == "delete":
                pipe.srem(cache.followers_key(c.key["followee_id"]), c.key["follower_id"])
                pipe.srem(cache.following_key(c.key["follower_id"]), c.key["followee_id"])
            pipe.set(cache.LAST_APPLIED_KEY, c.ts_ms)
        pipe.execute()


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
