"""What every request of the gateway shares: the Settings, the hub, and a small pool of worker threads, each with
its own :class:`~polydemo.app.Demo` (its own store connections: a psycopg connection is not shared between
threads). A use case runs on that pool, so the event loop keeps serving the WebSocket tabs meanwhile."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from polydemo.app import Demo
from polydemo.config import Settings
from polydemo.web.audience import AudienceOptions
from polydemo.web.hub import Hub
from polydemo.web.ratelimit import RateLimiter
from polydemo.web.sessions import DEFAULT_TTL_S, Sessions

T = TypeVar("T")

WORKERS = 4


class WebState:
    def __init__(
        self,
        settings: Settings,
        hub: Hub,
        make_demo: Callable[[], Demo],
        session_ttl_s: int = DEFAULT_TTL_S,
        workers: int = WORKERS,
        audience: AudienceOptions | None = None,
        limiter: RateLimiter | None = None,
    ):
        self.settings = settings
        self.hub = hub
        self._make_demo = make_demo
        self.session_ttl_s = session_ttl_s
        self._local = threading.local()
        self._demos: list[Demo] = []
        self._demos_lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="web-use-case")
        self.scenario: dict[str, Any] | None = None  # the scenario started from the page, while it runs
        self.audience = audience  # None: no audience listener (the default: nothing beyond 127.0.0.1)
        self.epoch: str | None = None  # the audience session opened at start (None: none, or ended)
        self.limiter = limiter or RateLimiter()  # the audience's writes: per token, and all together
        self.join_limiter = RateLimiter(per_key=0.5, per_key_burst=1, overall=50, overall_burst=100)
        self.read_limiter = RateLimiter(per_key=5, per_key_burst=10, overall=2000, overall_burst=4000)

    def demo(self) -> Demo:
        """This thread's Demo (made on first use)."""
        demo = getattr(self._local, "demo", None)
        if demo is None:
            demo = self._make_demo()
            self._local.demo = demo
            with self._demos_lock:
                self._demos.append(demo)
        return demo

    def sessions(self) -> Sessions:
        return Sessions(self.demo().stores.cache, self.session_ttl_s)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the pool (it calls :meth:`demo` / :meth:`sessions` there)."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, lambda: fn(*args))

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        with self._demos_lock:
            for demo in self._demos:
                demo.close()
            self._demos.clear()
