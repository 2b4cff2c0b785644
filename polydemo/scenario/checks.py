"""The reads behind a scenario's conditions: every metric defined once, a user as each store holds it.

The conditions themselves (``scenario/model.py``) ask through ``runner.StackProbe``, which calls these
with the run's one :class:`~polydemo.stores.Stores` bundle.
"""

from __future__ import annotations

from collections.abc import Callable

from polydemo.config import Settings
from polydemo.pipeline import lag
from polydemo.pipeline.dualwrite import dualwrite_topic
from polydemo.pipeline.outbox import outbox_topic
from polydemo.scenario.model import CountCond
from polydemo.stores import Stores, using

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
    "dlq_events": lambda st, c: dlq_events(st, c.reason if c else None, 0),
    "outbox_posts": lambda st, c: st.users.outbox_post_count(c.post if c else None),
    "outbox_events": lambda st, c: st.kafka.count_key(outbox_topic(st.settings), c.post if c else None),
    "lag": lambda st, c: _lag(st, c.projector if c is not None and c.projector else "all"),
    "audience_signups": lambda st, c: st.cache.audience_signups(),
}


def _lag(st: Stores, who: str) -> int:
    lags = lag.projector_lag(st.settings, st.kafka)
    return sum(lags.values()) if who == "all" else lags[who]


def metric(settings: Settings, name: str, cond: CountCond | None = None, stores: Stores | None = None) -> int:
    if name not in METRICS:
        raise ValueError(f"unknown metric {name}")
    with using(settings, stores) as st:
        return METRICS[name](st, cond)


def user_name(settings: Settings, store: str, email: str, stores: Stores | None = None) -> str | None:
    """The user's name as ``store`` holds it now, or None when it does not have the user."""
    with using(settings, stores) as st:
        try:
            return _user_name(st, store, email.lower())
        except Exception:  # broad, and re-raised: whatever the store raised, its gateway is made anew
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


def dlq_events(stores: Stores, reason: str | None, since_ms: int) -> int:
    """Messages dead-lettered since ``since_ms`` whose reason contains ``reason`` (every projector's)."""
    from polydemo.pipeline.loop import dlq_topic

    return stores.kafka.dlq_count(dlq_topic(stores.settings), reason, since_ms)


def bio(stores: Stores, store: str, email: str) -> str | None:
    """A user's bio in Postgres (``about``, else ``bio``) or in the Redis profile."""
    if store == "redis":
        return stores.cache.bio_by_email(email)
    user = stores.users.user(email)
    return stores.users.bio(user.id) if user else None
