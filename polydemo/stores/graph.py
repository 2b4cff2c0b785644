"""Neo4j (or another Bolt server), the social graph read model (GraphSvc)."""

from __future__ import annotations

import neo4j

from polydemo.config import Settings
from polydemo.stores import Health

SERVICE = "neo4j"


def connect(settings: Settings) -> neo4j.Driver:
    return neo4j.GraphDatabase.driver(
        settings.neo4j_uri,
        auth=(settings.neo4j_user, settings.neo4j_password),
        connection_timeout=3,
        max_connection_lifetime=300,
    )


def health(settings: Settings) -> Health:
    try:
        with connect(settings) as driver:
            with driver.session() as session:
                value = session.run("RETURN 1 AS one").single()["one"]
                agent = session.run("RETURN 1").consume().server.agent
            if value != 1:
                return Health(False, f"RETURN 1 gave {value!r}")
        # The server's agent is "Neo4j/5.26.30" for Neo4j; other Bolt servers name themselves.
        label = f"Neo4j Community {agent.split('/', 1)[1]} (embedded)" if agent.startswith("Neo4j/") else agent
        return Health(True, "RETURN 1 ok", label)
    except Exception as exc:  # noqa: BLE001
        return Health.down(exc)
