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
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from polydemo import resources
from polydemo.config import Settings
from polydemo.domain.users import hash_password
from polydemo.stores import cache, graph, mongo, postgres, timeseries

USERS_FILE = resources.USERS_JSON


@dataclass
class SeedResult:
    users_added: int
    follows_added: int
    posts_added: int
    reset: bool


def load_sample() -> tuple[dict, list[dict]]:
    return json.loads(USERS_FILE.read_text()), json.loads(resources.read_text(resources.POSTS_JSON))


def seed(settings: Settings, reset: bool = False) -> SeedResult:
    from polydemo.stack import apply_schemas

    sample, posts = load_sample()
    apply_schemas(settings)
    if reset:
        clear_all(settings)
    with postgres.connect(settings, autocommit=False) as conn:
        existing = {r[0] for r in conn.execute("SELECT email FROM users").fetchall()}
        new = [u for u in sample["users"] if u["email"] not in existing]
        with conn.cursor() as cur:
            # One argon2id hash per new user (each with its own salt); the demo password is in users.json.
            cur.executemany(
                "INSERT INTO users (id, email, name, hashed_password) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                [(u["id"], u["email"], u["name"], hash_password(sample["password"])) for u in new],
            )
            users_added = len(new)
            before = conn.execute("SELECT count(*) FROM follows").fetchone()[0]
            cur.executemany("INSERT INTO follows (follower_id, followee_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                            [(f["follower_id"], f["followee_id"]) for f in sample["follows"]])
            follows_added = conn.execute("SELECT count(*) FROM follows").fetchone()[0] - before
        conn.commit()
    client = mongo.connect(settings)
    try:
        coll = client[settings.mongo_db]["posts"]
        coll.create_index("author_id")
        posts_added = 0
        for p in posts:
            doc = {**p, "created_at": datetime(2026, 11, 1, tzinfo=timezone.utc)}
            res = coll.update_one({"_id": p["_id"]}, {"$setOnInsert": doc}, upsert=True)
            posts_added += 1 if res.upserted_id is not None else 0
    finally:
        client.close()
    return SeedResult(users_added, follows_added, posts_added, reset)


def clear_all(settings: Settings) -> None:
    """Empty every store's demo data (sources and read models). Kafka topics are left as they are."""
    with postgres.connect(settings) as conn:
        conn.execute("TRUNCATE follows, users")
    client = mongo.connect(settings)
    try:
        client[settings.mongo_db]["posts"].delete_many({})
    finally:
        client.close()
    with graph.connect(settings) as driver, driver.session() as s:
        s.run("MATCH (n) DETACH DELETE n").consume()
    r = cache.connect(settings)
    try:
        r.flushdb()
    finally:
        r.close()
    with timeseries.connect(settings) as conn:
        conn.execute("TRUNCATE events")


def wait_converged(settings: Settings, timeout: float = 60.0) -> bool:
    """Wait until every projector's lag is 0 (True) or the timeout passes (False)."""
    from polydemo.pipeline import lag

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(v == 0 for v in lag.projector_lag(settings).values()):
            return True
        time.sleep(0.2)
    return False
