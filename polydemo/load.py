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
from polydemo.stores.postgres import Users


def signup_burst(
    settings: Settings, n: int, prefix: str, batch: int = 100, rate: float | None = None, on_batch=None
) -> list[str]:
    """Insert ``n`` users ``<prefix>-<i>@load.example``; returns their ids. ``rate`` caps sign-ups/s."""
    limits.check_text("load prefix", prefix, 64)
    hashed = hash_password(f"load-{uuid.uuid4()}")
    rows = [(str(uuid.uuid4()), f"{prefix}-{i}@load.example", f"Load {prefix} {i}", hashed) for i in range(n)]
    t0 = time.monotonic()

    def paced(done: int) -> None:
        if on_batch:
            on_batch(done)
        if rate:
            ahead = done / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)

    with Users(settings) as users:
        users.insert_users(rows, batch=batch, on_batch=paced)
    return [r[0] for r in rows]
