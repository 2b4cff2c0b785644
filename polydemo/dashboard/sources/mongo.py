"""The Mongo panel: the posts and the latest of them (``stores.mongo.Posts``), read in the background once the
server is slow (SecantusDB at scale)."""

from __future__ import annotations

import concurrent.futures as cf
import time
from typing import Any

from polydemo.dashboard.model import MongoData, PostRow
from polydemo.dashboard.sources import SAMPLE, BaseSource, Frame
from polydemo.errors import StoreTimeout

SLOW_MS = 150.0  # a Mongo read slower than this is refreshed in the background (the frame shows the last one)


class MongoSource(BaseSource):
    """SecantusDB counts and sorts by scanning every post (seconds at 50,000 on 2 busy cores, even with the
    index), so once a read took longer than :data:`SLOW_MS` (or timed out) the frame shows the last answer
    (``MongoData.as_of``) and the next one is read in the background, with a 30 s timeout; a failed background
    read fails the next frame."""

    name = "mongo"
    gateways = ("posts",)

    def __init__(self, settings, stores):
        self.settings, self.stores = settings, stores
        self._kept: tuple[MongoData | None, float, float] | None = None  # last read, its ms, when (epoch s)
        self._refresh: cf.Future | None = None
        self._slow_gw: Any = None  # a Posts gateway with a long timeout, for the background reads
        self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="polydemo-mongo")

    def collect(self, frame: Frame) -> MongoData:
        kept, refresh = self._kept, self._refresh
        if kept is None or kept[1] <= SLOW_MS:
            try:
                return self._read(self.stores.posts)
            except StoreTimeout:
                kept = self._kept = (None, float("inf"), 0.0)  # slow, not down: read in the background
        if refresh is None or refresh.done():
            if refresh is not None and refresh.exception() is not None:
                self._kept, self._refresh = None, None
                raise refresh.exception()  # type: ignore[misc]
            self._refresh = self._pool.submit(self._read, self._slow_posts())
        kept = self._kept or kept
        if kept[0] is None:  # slow, not down: the panel says it is counting (it once showed Mongo as down)
            return MongoData(None)
        return MongoData(kept[0].posts, kept[0].latest, as_of=kept[2])

    def _slow_posts(self):
        if self._slow_gw is None:
            from polydemo.stores.mongo import Posts

            self._slow_gw = Posts(self.settings, timeout=30.0)
        return self._slow_gw

    def _read(self, posts) -> MongoData:
        t0 = time.perf_counter()
        if self.label is None:
            self.label = posts.label()
        data = MongoData(
            posts.estimated_count(), [PostRow(p.id, p.title, p.likes, p.author_id) for p in posts.latest(SAMPLE)]
        )
        self._kept = (data, (time.perf_counter() - t0) * 1000, time.time())
        return data

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._slow_gw is not None and not (self._refresh and not self._refresh.done()):
            self._slow_gw.close()
