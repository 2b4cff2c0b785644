"""Each change as a flow across the drawn topology, from the times the pipeline recorded (nothing estimated).

The projectors' ``recent`` rings (``pipeline/loop.py``, read by ``pipeline.trace.read_recent``) say, per change,
its source time (the Postgres commit or the Mongo write), its Kafka record time, and when each projector consumed
and applied it. :func:`flows_from` groups them by event id into hops on the web view's nodes; :class:`FlowTracker`
remembers what it sent so each change is pushed when first seen and again only when one more hop is known.
Pure (tests/unit/test_web_flows.py).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from polydemo.pipeline.trace import CONSUMERS, STORE_OF

# The projectors drawn, in the view's order, and the node of the store each one writes (its label: STORE_OF).
PROJECTOR_STORE = {"graph": "neo4j", "cache": "redis", "analytics": "timeseries"}
# The path a change takes to Kafka: Debezium reads the Postgres WAL; the relay tails Mongo's change stream.
VIA = {"postgres": "connect", "mongo": "relay"}
EDGE_WINDOW_S = 30.0


def _short(key: Mapping[str, Any] | None) -> str:
    return "→".join(str(v)[:8] for v in (key or {}).values())


def _key_text(key: Mapping[str, Any] | None) -> str:
    return ":".join(str(v) for v in (key or {}).values())


def source_node(rec: Mapping[str, Any]) -> str:
    """Postgres (through Debezium: the record has an LSN, or a ``pg:`` event id) or Mongo (through the relay)."""
    if rec.get("lsn") is not None or str(rec.get("event_id") or "").startswith("pg:"):
        return "postgres"
    return "mongo"


def build_flow(event_id: str, records: Mapping[str, Mapping[str, Any]], labels: Mapping[str, str]) -> dict:
    """One change's flow from the ring entries of the projectors that applied it (``records``: projector → entry)."""
    first = next(iter(records.values()))
    entity = str(first.get("entity") or "?")
    src = source_node(first)
    key_text = _key_text(first.get("key"))
    origin = first.get("source_ts_ms")
    topic = str(first.get("topic") or "").split(".", 1)[-1]  # without the prefix
    kafka_at = min((r["kafka_ts_ms"] for r in records.values() if r.get("kafka_ts_ms")), default=None)
    hops: list[dict[str, Any]] = [
        {
            "name": "Postgres commit" if src == "postgres" else "Mongo write",
            "node": src,
            "after": None,
            "at_ms": origin,
        },
        {
            "name": "Kafka append" if src == "postgres" else "relay publish → Kafka",
            "node": "kafka",
            "via": VIA[src],
            "after": 0,
            "at_ms": kafka_at,
            "detail": f"{topic}[{first.get('partition')}]@{first.get('offset')}",
        },
    ]
    expected = CONSUMERS.get(entity, tuple(PROJECTOR_STORE))
    for name in (*expected, *(n for n in records if n not in expected)):
        if name not in PROJECTOR_STORE:
            continue
        rec = records.get(name)
        store = PROJECTOR_STORE[name]
        consume = len(hops)
        hops.append({"name": f"{name} consume", "node": name, "after": 1, "at_ms": rec and rec.get("consumed_at_ms")})
        hops.append(
            {
                "name": f"visible in {STORE_OF[name]}",
                "node": store,
                "after": consume,
                "at_ms": rec and rec.get("applied_at_ms"),
            }
        )
    for hop in hops:
        at = hop["at_ms"]
        hop["ms"] = round(at - origin, 1) if at is not None and origin else None
    ids = [str(v) for v in (first.get("key") or {}).values()]
    label = " → ".join(labels.get(i, i[:8]) for i in ids) if ids else event_id
    return {
        "id": event_id,
        "entity": entity,
        "key": key_text,
        "short": _short(first.get("key")),
        "op": first.get("op"),
        "label": label,
        "origin_ms": origin,
        "complete": all(h["at_ms"] is not None for h in hops),
        "known": sum(1 for h in hops if h["at_ms"] is not None),
        "hops": hops,
    }


def group(recents: Mapping[str, Iterable[Mapping[str, Any]] | None]) -> dict[str, dict[str, Mapping[str, Any]]]:
    """Ring entries by event id, then by projector (the newest entry of each projector for that event)."""
    out: dict[str, dict[str, Mapping[str, Any]]] = {}
    for name, ring in recents.items():
        for rec in ring or ():
            eid = rec.get("event_id")
            if eid:
                out.setdefault(str(eid), {})[name] = rec
    return out


def flows_from(recents: Mapping[str, Iterable[Mapping[str, Any]] | None], labels: Mapping[str, str] | None = None):
    """Every change the rings hold, as flows, oldest first (by source time)."""
    flows = [build_flow(eid, recs, labels or {}) for eid, recs in group(recents).items()]
    return sorted(flows, key=lambda f: (f["origin_ms"] or 0, f["id"]))


def edges(flow: Mapping[str, Any]) -> list[str]:
    """The drawn edges a flow crossed (``from-to``), through Debezium or the relay on the way to Kafka."""
    hops = flow["hops"]
    out = []
    for hop in hops:
        if hop["after"] is None or hop["at_ms"] is None:
            continue
        prev = hops[hop["after"]]["node"]
        if hop.get("via"):
            out += [f"{prev}-{hop['via']}", f"{hop['via']}-{hop['node']}"]
        else:
            out.append(f"{prev}-{hop['node']}")
    return out


class FlowTracker:
    """What was pushed: a flow is new when its event id was not seen, or when more of its hops are known now."""

    def __init__(self, keep: int = 500):
        self.keep = keep
        self.flows: OrderedDict[str, dict] = OrderedDict()

    def update(self, flows: Iterable[dict]) -> list[dict]:
        changed = []
        for flow in flows:
            old = self.flows.get(flow["id"])
            if old is not None and old["known"] >= flow["known"]:
                continue
            self.flows[flow["id"]] = flow
            self.flows.move_to_end(flow["id"])
            changed.append(flow)
        while len(self.flows) > self.keep:
            self.flows.popitem(last=False)
        return changed

    def recent(self, n: int = 50) -> list[dict]:
        return list(self.flows.values())[-n:]

    def edge_counts(self, now_ms: float, window_s: float = EDGE_WINDOW_S) -> dict[str, int]:
        """Changes per edge whose hop onto it happened within the last ``window_s`` seconds."""
        counts: dict[str, int] = {}
        since = now_ms - window_s * 1000
        for flow in self.flows.values():
            if (flow["origin_ms"] or 0) < since:
                continue
            for edge in edges(flow):
                counts[edge] = counts.get(edge, 0) + 1
        return counts
