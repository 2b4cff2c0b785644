"""Metrics and conditions a scenario can wait for or expect, read from the real stores."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from polydemo.config import Settings
from polydemo.domain.posts import dualwrite_topic
from polydemo.pipeline import connector, lag, workers
from polydemo.scenario.model import Condition, CountCond
from polydemo.stores import cache, graph, kafka, mongo, postgres, timeseries


@dataclass
class Outcome:
    ok: bool
    expected: str
    seen: str


def metric(settings: Settings, name: str, cond: CountCond | None = None) -> int:
    if name == "users":
        with postgres.connect(settings) as c:
            return c.execute("SELECT count(*) FROM users").fetchone()[0]
    if name == "follows":
        with postgres.connect(settings) as c:
            return c.execute("SELECT count(*) FROM follows").fetchone()[0]
    if name == "posts":
        client = mongo.connect(settings)
        try:
            q = {"_id": cond.post} if cond is not None and cond.post else {}
            return client[settings.mongo_db]["posts"].count_documents(q)
        finally:
            client.close()
    if name in ("graph_users", "graph_follows"):
        q = "MATCH (u:User) RETURN count(u) AS c" if name == "graph_users" else \
            "MATCH ()-[f:FOLLOWS]->() RETURN count(f) AS c"
        with graph.connect(settings) as d, d.session() as s:
            return s.run(q).single()["c"]
    if name == "cache_profiles":
        gw = cache.Cache(settings)
        try:
            return gw.profile_count()
        finally:
            gw.close()
    if name in ("events", "post_events"):
        sql, args = "SELECT count(*) FROM events WHERE true", []
        if cond is not None and cond.type:
            sql += " AND event_type = %s"
            args.append(cond.type)
        if cond is not None and cond.post:
            sql += " AND properties->>'post_id' = %s"
            args.append(cond.post)
        with timeseries.connect(settings) as c:
            return c.execute(sql, args).fetchone()[0]
    if name == "dualwrite_events":
        return _count_key(settings, dualwrite_topic(settings), cond.post if cond else None)
    if name == "lag":
        lags = lag.projector_lag(settings)
        who = cond.projector if cond is not None and cond.projector else "all"
        return sum(lags.values()) if who == "all" else lags[who]
    raise ValueError(f"unknown metric {name}")


def _count_key(settings: Settings, topic: str, key: str | None) -> int:
    c = Consumer(kafka.client_config(settings, **{"group.id": "polydemo-scenario-probe", "enable.auto.commit": False}))
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)
        if high <= low:
            return 0
        c.assign([TopicPartition(topic, 0, low)])
        n, pos = 0, low
        while pos < high:
            m = c.poll(2.0)
            if m is None:
                break
            if m.error():
                continue
            pos = m.offset() + 1
            if key is None or (m.key() or b"").decode() == key:
                n += 1
        return n
    finally:
        c.close()


def _cmp(value: int, cond) -> tuple[bool, str]:
    parts, ok = [], True
    if getattr(cond, "equals", None) is not None:
        ok &= value == cond.equals
        parts.append(f"= {cond.equals}")
    if cond.min is not None:
        ok &= value >= cond.min
        parts.append(f">= {cond.min}")
    if cond.max is not None:
        ok &= value <= cond.max
        parts.append(f"<= {cond.max}")
    return ok, " and ".join(parts)


def evaluate(settings: Settings, cond: Condition, traces: dict[str, float], clients: Clients | None = None) -> Outcome:
    if cond.lag is not None:
        lags = lag.projector_lag(settings)
        value = sum(lags.values()) if cond.lag.projector == "all" else lags[cond.lag.projector]
        ok, exp = _cmp(value, cond.lag)
        return Outcome(ok, f"lag of {cond.lag.projector} {exp or 'known'}", f"lag {value} ({lags})")
    if cond.count is not None:
        c = cond.count
        value = metric(settings, c.of, c)
        ok, exp = _cmp(value, c)
        label = c.of + "".join(f" {k}={v}" for k, v in (("post", c.post), ("type", c.type)) if v)
        if c.equals_metric:
            other = metric(settings, c.equals_metric, c)
            ok &= value == other
            exp = (exp + " and " if exp else "") + f"= {c.equals_metric} ({other})"
        return Outcome(ok, f"{label} {exp}", f"{label} = {value}")
    if cond.user is not None:
        u = cond.user
        name = user_name(settings, u.store, u.email, clients)
        present = name is not None
        ok = present == u.present and (u.name is None or not present or name == u.name)
        exp = f"{u.email} {'in' if u.present else 'absent from'} {u.store}" + (f" named {u.name!r}" if u.name else "")
        return Outcome(ok, exp, f"{'present as ' + repr(name) if present else 'absent'}")
    if cond.connector is not None:
        state, tasks = connector.states(connector.status(settings))
        seen = state if not tasks else f"{state} (tasks {', '.join(tasks)})"
        ok = state == cond.connector.state and (state != "RUNNING" or all(t == "RUNNING" for t in tasks))
        return Outcome(ok, f"connector {cond.connector.state}", seen)
    if cond.projector is not None:
        st = workers.status(settings, cond.projector.name)
        return Outcome(st.state == cond.projector.state, f"projector {cond.projector.name} {cond.projector.state}",
                       f"{st.state}{(' (' + st.last_error + ')') if st.last_error else ''}")
    if cond.staleness is not None:
        s = cond.staleness
        if s.store not in traces:
            return Outcome(False, f"a traced staleness for {s.store}", "no trace step measured it")
        value = traces[s.store]
        ok = (s.max_ms is None or value <= s.max_ms) and (s.min_ms is None or value >= s.min_ms)
        exp = " and ".join(x for x in (f"<= {s.max_ms} ms" if s.max_ms is not None else "",
                                       f">= {s.min_ms} ms" if s.min_ms is not None else "") if x)
        return Outcome(ok, f"{s.store} staleness {exp}", f"{value:.0f} ms")
    if cond.converged is not None:
        lags = lag.projector_lag(settings)
        counts = {m: metric(settings, m) for m in ("users", "graph_users", "cache_profiles", "follows", "graph_follows")}
        ok = (sum(lags.values()) == 0 and counts["users"] == counts["graph_users"] == counts["cache_profiles"]
              and counts["follows"] == counts["graph_follows"])
        return Outcome(ok == cond.converged, "converged (lag 0, users/follows equal in every store)"
                       if cond.converged else "not converged", f"lag {lags}, counts {counts}")
    raise ValueError("empty condition")


class Clients:
    """Connections kept for a run: a trace polls every few ms, and a new connection per poll
    (a Neo4j driver costs ~100 ms) would be measured as staleness."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._pg = self._ts = self._redis = self._neo4j = None

    @property
    def pg(self):
        if self._pg is None or self._pg.closed:
            self._pg = postgres.connect(self.settings)
        return self._pg

    @property
    def ts(self):
        if self._ts is None or self._ts.closed:
            self._ts = timeseries.connect(self.settings)
        return self._ts

    @property
    def redis(self):
        if self._redis is None:
            self._redis = cache.connect(self.settings)
        return self._redis

    @property
    def neo4j(self):
        if self._neo4j is None:
            self._neo4j = graph.connect(self.settings)
        return self._neo4j

    def warm(self) -> None:
        """Open every connection now, so the first trace does not time a connect."""
        self.pg.execute("SELECT 1")
        self.ts.execute("SELECT 1")
        self.redis.ping()
        self.neo4j.verify_connectivity()

    def reset(self) -> None:
        """Drop every connection (after an error, or at the end of a run)."""
        for c in (self._pg, self._ts, self._redis, self._neo4j):
            try:
                if c is not None:
                    c.close()
            except Exception:  # noqa: BLE001
                pass
        self._pg = self._ts = self._redis = self._neo4j = None

    close = reset


def user_name(settings: Settings, store: str, email: str, clients: Clients | None = None) -> str | None:
    own = clients is None
    clients = clients or Clients(settings)
    try:
        return _user_name(clients, store, email.lower())
    except Exception:
        clients.reset()  # a store that went away: reconnect on the next poll
        raise
    finally:
        if own:
            clients.close()


def _user_name(c: Clients, store: str, email: str) -> str | None:
    if store == "postgres":
        row = c.pg.execute("SELECT name FROM users WHERE email = %s", (email,)).fetchone()
        return row[0] if row else None
    if store == "redis":
        return cache.Cache(c.settings, c.redis).name_by_email(email)
    if store == "neo4j":
        rec = c.neo4j.execute_query("MATCH (u:User {email: $e}) RETURN u.name AS n", e=email).records
        return rec[0]["n"] if rec else None
    if store == "analytics":
        row = c.pg.execute("SELECT id, name FROM users WHERE email = %s", (email,)).fetchone()
        if not row:
            return None
        hit = c.ts.execute("SELECT 1 FROM events WHERE user_id = %s AND event_type = 'signed_up'", (row[0],)).fetchone()
        return row[1] if hit else None
    raise ValueError(store)
