"""`polydemo seed`: the deterministic sample into every store.

Postgres (users, follows) and Mongo (posts) are written directly: they are the systems of
record. The graph, the cache and the analytics events are seeded **through the pipeline**
(Debezium -> Kafka -> projectors; the post relay for posts), not written directly: the read
models then hold exactly what the pipeline would make of the same writes, the seed is itself
a demonstration of the data flow, and there is one code path to trust instead of two.
Running it twice changes nothing (ON CONFLICT DO NOTHING, upserts by fixed ids).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from polydemo import resources
from polydemo.config import Settings
from polydemo.domain.users import hash_password
from polydemo.stores import Stores, using

log = logging.getLogger(__name__)

USERS_FILE = resources.USERS_JSON


@dataclass
class SeedResult:
    users_added: int
    follows_added: int
    posts_added: int
    reset: bool


def load_sample() -> tuple[dict, list[dict]]:
    return json.loads(USERS_FILE.read_text()), json.loads(resources.read_text(resources.POSTS_JSON))


def apply_schemas(stores: Stores) -> None:
    """database.sql into Postgres, TimeScaleDB.sql into the time-series store (both idempotent)."""
    stores.users.apply_schema(resources.read_text(resources.DATABASE_SQL))
    stores.events.apply_schema(resources.read_text(resources.TIMESERIES_SQL))
    stores.posts.ensure_schema()


def seed(settings: Settings, reset: bool = False, stores: Stores | None = None) -> SeedResult:
    sample, posts = load_sample()
    with using(settings, stores) as st:
        apply_schemas(st)
        if reset:
            clear_all(settings, st)
        existing = st.users.emails()
        new = [u for u in sample["users"] if u["email"] not in existing]
        # One argon2id hash per new user (each with its own salt); the demo password is in users.json.
        users_added = st.users.insert_users(
            [(u["id"], u["email"], u["name"], hash_password(sample["password"])) for u in new], batch=len(new) or 1
        )
        follows_added = st.users.follow_many((f["follower_id"], f["followee_id"]) for f in sample["follows"])
        posts_added = sum(
            st.posts.insert_if_missing({**p, "created_at": datetime(2026, 11, 1, tzinfo=UTC)}) for p in posts
        )
    return SeedResult(users_added, follows_added, posts_added, reset)


def clear_all(settings: Settings, stores: Stores | None = None) -> None:
    """Empty every store's demo data (sources and read models). Kafka topics are left as they are."""
    with using(settings, stores) as st:
        st.users.clear()
        st.posts.clear()
        st.graph.clear()
        st.cache.clear()
        st.events.clear()


def wait_converged(settings: Settings, timeout: float = 60.0, stores: Stores | None = None) -> bool:
    """Wait until every projector's lag is 0 (True) or the timeout passes (False)."""
    from polydemo.errors import StoreUnreachable
    from polydemo.pipeline import lag

    with using(settings, stores) as st:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if all(v == 0 for v in lag.projector_lag(settings, st.kafka).values()):
                    return True
            except StoreUnreachable as exc:
                if not exc.transient:
                    raise
                # a broker failover under the admin client: a new one, bootstrapped from the brokers that are up
                log.debug("lag not readable yet: %s", exc)
                st.kafka.close()
            time.sleep(0.2)
    return False
