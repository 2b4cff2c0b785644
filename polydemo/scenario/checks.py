"""Metrics and conditions a scenario can wait for or expect, read from the real stores."""

from __future__ import annotations

from dataclasses import dataclass

from typing import Callable

from polydemo.config import Settings
from polydemo.pipeline import connector, lag, workers
from polydemo.pipeline.dualwrite import dualwrite_topic
from polydemo.scenario.model import Condition, CountCond
from polydemo.stores import Stores, using


@dataclass
class Outcome:
    ok: bool
    expected: str
    seen: str


# The one definition of each count a scenario can name (users, graph users, cached profiles, ...).
METRICS: dict[str, Callable[[Stores, CountCond | None], int]] = {
    "users": lambda st, c: st.users.user_count(),
    "follows": lambda st, c: st.users.follow_count(),
    "posts": lambda st, c: st.posts.count(c.post if c is not None else None),
    "graph_users": lambda st, c: st.graph.user_count(),
    "graph_follows": lambda st, c: st.graph.follow_count(),
    "cache_profiles": lambda st, c: st.cache.profile_count(),
    "events": lambda st, c: st.events.count(c.type if c else None, c.post if c else None),
    "post_events": lambda st, c: st.events.count(c.type if c else None, c.post if c else None),
    "dualwrite_events": lambda st, c: st.kafka.count_key(dualwrite_topic(st.settings), c.post if c else None),
    "lag": lambda st, c: _lag(st, c.projector if c is not None and c.projector else "all"),
}


def _lag(st: Stores, who: str) -> int:
    lags = lag.projector_lag(st.settings, st.kafka)
    return sum(lags.values()) if who == "all" else lags[who]


def metric(settings: Settings, name: str, cond: CountCond | None = None, stores: Stores | None = None) -> int:
    if name not in METRICS:
        raise ValueError(f"unknown metric {name}")
    with using(settings, stores) as st:
        return METRICS[name](st, cond)


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


def evaluate(settings: Settings, cond: Condition, traces: dict[str, float], clients: Stores | None = None) -> Outcome:
    with using(settings, clients) as st:
        return _evaluate(st, cond, traces)


def _evaluate(st: Stores, cond: Condition, traces: dict[str, float]) -> Outcome:
    settings = st.settings
    if cond.lag is not None:
        lags = lag.projector_lag(settings, st.kafka)
        value = sum(lags.values()) if cond.lag.projector == "all" else lags[cond.lag.projector]
        ok, exp = _cmp(value, cond.lag)
        return Outcome(ok, f"lag of {cond.lag.projector} {exp or 'known'}", f"lag {value} ({lags})")
    if cond.count is not None:
        c = cond.count
        value = METRICS[c.of](st, c)
        ok, exp = _cmp(value, c)
        label = c.of + "".join(f" {k}={v}" for k, v in (("post", c.post), ("type", c.type)) if v)
        if c.equals_metric:
            other = METRICS[c.equals_metric](st, c)
            ok &= value == other
            exp = (exp + " and " if exp else "") + f"= {c.equals_metric} ({other})"
        return Outcome(ok, f"{label} {exp}", f"{label} = {value}")
    if cond.user is not None:
        u = cond.user
        name = user_name(settings, u.store, u.email, st)
        present = name is not None
        ok = present == u.present and (u.name is None or not present or name == u.name)
        exp = f"{u.email} {'in' if u.present else 'absent from'} {u.store}" + (f" named {u.name!r}" if u.name else "")
        return Outcome(ok, exp, f"{'present as ' + repr(name) if present else 'absent'}")
    if cond.connector is not None:
        state, tasks = connector.states(st.connect.status())
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
        lags = lag.projector_lag(settings, st.kafka)
        counts = {m: METRICS[m](st, None) for m in ("users", "graph_users", "cache_profiles", "follows", "graph_follows")}
        ok = (sum(lags.values()) == 0 and counts["users"] == counts["graph_users"] == counts["cache_profiles"]
              and counts["follows"] == counts["graph_follows"])
        return Outcome(ok == cond.converged, "converged (lag 0, users/follows equal in every store)"
                       if cond.converged else "not converged", f"lag {lags}, counts {counts}")
    raise ValueError("empty condition")


def user_name(settings: Settings, store: str, email: str, stores: Stores | None = None) -> str | None:
    """The user's name as ``store`` holds it now, or None when it does not have the user."""
    with using(settings, stores) as st:
        try:
            return _user_name(st, store, email.lower())
        except Exception:
            for name in ("users", "events", "cache", "graph"):
                st.drop(name)  # a store that went away: reconnect on the next poll
            raise


def _user_name(st: Stores, store: str, email: str) -> str | None:
    if store == "postgres":
        user = st.users.user(email)
        return user.name if user else None
    if store == "redis":
        return st.cache.name_by_email(email)
    if store == "neo4j":
        return st.graph.name_by_email(email)
    if store == "analytics":
        user = st.users.user(email)
        if user is None:
            return None
        return user.name if st.events.has_event(user.id, "signed_up") else None
    raise ValueError(store)


def warm(stores: Stores) -> None:
    """Open every connection a run polls, so the first trace does not time a connect (a Neo4j driver ~100 ms)."""
    stores.users.conn.execute("SELECT 1")
    stores.events.conn.execute("SELECT 1")
    stores.cache.client.ping()
    stores.graph.driver.verify_connectivity()
