"""The Neo4j panel: nodes, FOLLOWS edges and the most followed users (``stores.graph.Graph``)."""

from __future__ import annotations

from polydemo.dashboard.model import Followed, Neo4jData
from polydemo.dashboard.sources import FIRST_TIMEOUT, SAMPLE, TIMEOUT, BaseSource, Frame


class Neo4jSource(BaseSource):
    name = "neo4j"
    gateways = ("graph",)

    def __init__(self, stores, timeout: float = TIMEOUT):
        self.stores = stores
        self.timeout = timeout

    def collect(self, frame: Frame) -> Neo4jData:
        g = self.stores.graph
        # The first query of a cold graph (plan cache, page cache) may take seconds on a busy machine.
        counts = g.counts(SAMPLE, timeout=self.timeout if self.label is not None else FIRST_TIMEOUT)
        label = g.label()
        if self.label is None and label:
            self.label = label
        return Neo4jData(
            counts.nodes,
            counts.users,
            counts.follows,
            [Followed(t.get("id"), t.get("name"), t["followers"]) for t in counts.top],
        )
