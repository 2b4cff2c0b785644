"""Rate limits that keep the show running: a token bucket per key and one for everybody (pure; the clock is passed
in, so tests/unit/test_web_ratelimit.py drives it without sleeping).

A refused call is refused at once (never queued, never a hang), with how long to wait: the gateway turns that into
a ``RATE_LIMITED`` error with ``extensions.retryAfterMs``. The checks run on the event loop before any store is
asked, so a flooding phone costs the gateway a dictionary lookup per call, and the others keep their latency.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Bucket:
    rate: float  # tokens a second
    burst: float  # at most this many at once
    tokens: float
    at: float

    def take(self, now: float, n: float = 1.0) -> float:
        """0 when taken; else the seconds until ``n`` tokens are there (nothing is taken then)."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= n:
            self.tokens -= n
            return 0.0
        return (n - self.tokens) / self.rate


class RateLimiter:
    """``per_key`` tokens a second for each key (a session token's hash), ``overall`` for all keys together."""

    def __init__(
        self,
        per_key: float = 2.0,
        per_key_burst: float = 5.0,
        overall: float = 300.0,
        overall_burst: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ):
        self.per_key, self.per_key_burst = per_key, per_key_burst
        self.clock = clock
        self.max_keys = max_keys
        self.overall = Bucket(overall, overall_burst, overall_burst, clock())
        self.keys: OrderedDict[str, Bucket] = OrderedDict()
        self.refused = 0

    def check(self, key: str | None) -> float:
        """0 when the call may go on (and it is counted); else the seconds to wait before trying again."""
        now = self.clock()
        bucket = None
        if key is not None:
            bucket = self.keys.get(key)
            if bucket is None:
                bucket = Bucket(self.per_key, self.per_key_burst, self.per_key_burst, now)
                self.keys[key] = bucket
                while len(self.keys) > self.max_keys:  # bounded: the oldest keys go first
                    self.keys.popitem(last=False)
            self.keys.move_to_end(key)
            wait = bucket.take(now)
            if wait:
                self.refused += 1
                return wait
        wait = self.overall.take(now)
        if wait:
            if bucket is not None:
                bucket.tokens += 1  # not this key's fault: give its token back
            self.refused += 1
        return wait
