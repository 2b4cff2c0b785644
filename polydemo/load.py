"""Load generation against the systems of record (for drills, scenarios and benchmarks).

Sign-ups here share one argon2id hash computed once: hashing is ~50 ms of CPU per user by
design, and a burst of thousands would measure the hasher, not the pipeline. Every other column
is real, and each row is its own insert, committed in batches so CDC streams them over time.
"""

from __future__ import annotations

import time
import uuid

from polydemo.config import Settings
from polydemo.domain import limits
from polydemo.domain.users import hash_password
from polydemo.stores import postgres


def signup_burst(settings: Settings, n: int, prefix: str, batch: int = 100, rate: float | None = None,
                 on_batch=None) -> list[str]:
    """Insert ``n`` users ``<prefix>-<i>@load.example``; returns their ids. ``rate`` caps sign-ups/s."""
    limits.check_text("load prefix", prefix, 64)
    hashed = hash_password(f"load-{uuid.uuid4()}")
    ids: list[str] = []
    t0 = time.monotonic()
    with postgres.connect(settings, autocommit=False) as conn:
        for start in range(0, n, batch):
            rows = [(str(uuid.uuid4()), f"{prefix}-{i}@load.example", f"Load {prefix} {i}", hashed)
                    for i in range(start, min(n, start + batch))]
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO users (id, email, name, hashed_password) VALUES (%s, %s, %s, %s)", rows)
            conn.commit()
            ids.extend(r[0] for r in rows)
            if on_batch:
                on_batch(len(ids))
            if rate:
                ahead = len(ids) / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
    return ids
