"""Neo4j (or another Bolt server): the social graph projection. Everything polydemo asks of it is here.

:class:`Graph` is the gateway: one driver, the schema (a uniqueness constraint on ``User.id``), the
graph projector's idempotent writes (MERGE by source ids) and every read (counts, the most followed,
one user with their followers).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import groupby

import neo4j

from polydemo.config import Settings
from polydemo.stores import Gateway, Health, statements

SERVICE = "neo4j"


def connect(settings: Settings, timeout: float | None = None) -> neo4j.Driver:
    # The acquisition timeout also bounds the Bolt handshake of a new connection: at its default (60 s) a frozen
    # Neo4j held a cold read a minute. A warm connection's reads are bounded by the server's recv-timeout hint
    # (4 s, stack/neo4j's launcher and the compose file).
    kwargs: dict = {"connection_timeout": 3, "connection_acquisition_timeout": 10, "max_connection_lifetime": 300}
    if timeout is not None:
        kwargs.update(
            connection_timeout=timeout, connection_acquisition_timeout=timeout, notifications_min_severity="OFF"
        )
    return neo4j.GraphDatabase.driver(settings.neo4j_uri, auth=(settings.neo4j_user, settings.neo4j_password), **kwargs)


def agent_label(agent: str) -> str:
    """The server's agent ("Neo4j/5.26.30") as the engine shown everywhere; other Bolt servers name themselves."""
    return f"Neo4j Community {agent.split('/', 1)[1]} (embedded)" if agent.startswith("Neo4j/") else agent


def health(settings: Settings) -> Health:
    try:
        with connect(settings) as driver:
            with driver.session() as session:
                record = session.run("RETURN 1 AS one").single()
                value = record["one"] if record is not None else None
                agent = session.run("RETURN 1").consume().server.agent
            if value != 1:
                return Health(False, f"RETURN 1 gave {value!r}")
        return Health(True, "RETURN 1 ok", agent_label(agent))
    except Exception as exc:  # noqa: BLE001 - health never raises: a down store is an answer
        return Health.down(exc)


@dataclass
class GraphCounts:
    nodes: int
    users: int
    follows: int
    top: list[dict]  # {id, name, followers}, most followed first


COUNTS_QUERY = (
    "CALL () { MATCH (n) RETURN count(n) AS nodes } "
    "CALL () { MATCH (u:User) RETURN count(u) AS users } "
    "CALL () { MATCH ()-[r:FOLLOWS]->() RETURN count(r) AS follows } "
    "CALL () { OPTIONAL MATCH (u:User)<-[:FOLLOWS]-() WITH u, count(*) AS c WHERE u IS NOT NULL "
    "  ORDER BY c DESC, u.name LIMIT $n RETURN collect({id: u.id, name: u.name, followers: c}) AS top } "
    "RETURN nodes, users, follows, top"
)


MERGE_USERS = (
    "UNWIND $rows AS r MERGE (u:User {id: r.id}) "
    "WITH u, r WHERE r.lsn IS NULL OR u.lsn IS NULL OR u.lsn <= r.lsn "
    "SET u.name = r.name, u.email = r.email, u.lsn = r.lsn"
)
"""The ordering guard: a node keeps the source LSN of the change that wrote it, and an older change (a partition
re-delivered to another projector instance after a rebalance) leaves it as it is."""
DELETE_USERS = "UNWIND $ids AS id MATCH (u:User {id: id}) DETACH DELETE u"
MERGE_FOLLOWS = (
    "UNWIND $rows AS r MERGE (a:User {id: r.follower_id}) MERGE (b:User {id: r.followee_id}) MERGE (a)-[:FOLLOWS]->(b)"
)
DELETE_FOLLOWS = "UNWIND $rows AS r MATCH (:User {id: r.follower_id})-[f:FOLLOWS]->(:User {id: r.followee_id}) DELETE f"


def runs(changes: list):
    """Consecutive changes of the same kind, in order: each run is one batched write."""
    return groupby(changes, key=lambda c: (c.entity, c.op))


class Graph(Gateway[neo4j.Driver]):
    """The Neo4j gateway."""

    service = SERVICE
    agent: str | None = None  # the server's agent, learnt from the first counts query

    def _connect(self) -> neo4j.Driver:
        return connect(self.settings, timeout=self._timeout)

    @property
    def driver(self) -> neo4j.Driver:
        return self.client

    def label(self) -> str | None:
        return agent_label(self.agent) if self.agent else None

    # ------------------------------------------------------------ schema
    def ensure_schema(self) -> None:
        with self.driver.session() as s:
            s.run("CREATE CONSTRAINT user_id IF NOT EXISTS FOR (u:User) REQUIRE u.id IS UNIQUE").consume()

    # ------------------------------------------------------------ writes (the graph projector)
    def apply(self, changes: Iterable) -> None:
        """(:User {id, name, email}) nodes and FOLLOWS edges, MERGEd by source ids: a replay changes nothing."""
        # One explicit transaction for the whole batch: one commit (one fsync of Neo4j's transaction log)
        # instead of one per run of same-kind changes. Not execute_write: its own retries would hide a
        # Neo4j outage from the projector's retry loop (and its "retrying" status) for 30 s.
        with self.driver.session() as session, session.begin_transaction() as tx:
            for (entity, op), run in runs(list(changes)):
                batch = list(run)
                if entity == "user" and op in ("create", "update"):
                    query, name = MERGE_USERS, "rows"
                    params = [
                        {
                            "id": c.key["id"],
                            "name": (c.after or {}).get("name"),
                            "email": (c.after or {}).get("email"),
                            "lsn": (c.extra or {}).get("lsn"),
                        }
                        for c in batch
                    ]
                elif entity == "user" and op == "delete":
                    query, name, params = DELETE_USERS, "ids", [c.key["id"] for c in batch]
                elif entity == "follow" and op in ("create", "delete"):
                    query, name = (MERGE_FOLLOWS if op == "create" else DELETE_FOLLOWS), "rows"
                    params = [c.key for c in batch]
                else:
                    continue
                tx.run(query, {name: params}).consume()
                if statements.active():  # --show-commands: each change's share of the batch, as it ran
                    for c, p in zip(batch, params, strict=True):
                        statements.note(SERVICE, statements.cypher(query, **{name: [p]}), statements.change_key(c))
            tx.commit()

    def clear(self) -> None:
        with self.driver.session() as s:
            s.run("MATCH (n) DETACH DELETE n").consume()

    # ------------------------------------------------------------ reads
    def user_count(self) -> int:
        return self.driver.execute_query("MATCH (u:User) RETURN count(u) AS c").records[0]["c"]

    def follow_count(self) -> int:
        return self.driver.execute_query("MATCH ()-[f:FOLLOWS]->() RETURN count(f) AS c").records[0]["c"]

    def counts(self, top: int, timeout: float | None = None) -> GraphCounts:
        """Nodes, users, follows and the ``top`` most followed, in one query (the dashboard's frame)."""
        with self.driver.session() as session:
            result = session.run(neo4j.Query(COUNTS_QUERY, timeout=timeout), n=top)
            rec = result.single(strict=True)
            self.agent = result.consume().server.agent
        return GraphCounts(rec["nodes"], rec["users"], rec["follows"], list(rec["top"]))

    def name_by_email(self, email: str) -> str | None:
        rec = self.driver.execute_query("MATCH (u:User {email: $e}) RETURN u.name AS n", e=email).records
        return rec[0]["n"] if rec else None

    def user(self, user_id: str | None, email: str) -> tuple[str | None, int] | None:
        """(name, followers) of the user with this id or email, or None when the graph has no such node."""
        with self.driver.session() as s:
            rec = s.run(
                "MATCH (u:User) WHERE u.id = $id OR u.email = $email "
                "OPTIONAL MATCH (f:User)-[:FOLLOWS]->(u) RETURN u.name AS name, count(f) AS followers",
                id=user_id or email,
                email=email,
            ).single()
        return None if rec is None else (rec["name"], rec["followers"])

    def users_with_email_prefix(self, prefix: str) -> tuple[int, int]:
        """(nodes, distinct ids) whose email starts with ``prefix``: equal means no duplicates."""
        rec = self.driver.execute_query(
            "MATCH (u:User) WHERE u.email STARTS WITH $p RETURN count(u) AS n, count(DISTINCT u.id) AS d", p=prefix
        ).records[0]
        return rec["n"], rec["d"]
