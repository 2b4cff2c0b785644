"""The Redis panel: the profiles projected, the keyspace, hits and misses (without the dashboard's own look-ups),
memory, and the cache entries of the latest Postgres users (``stores.cache.Cache``)."""

from __future__ import annotations

from polydemo.dashboard.model import CachedProfile, RedisData
from polydemo.dashboard.sources import SAMPLE, BaseSource, Frame


class RedisSource(BaseSource):
    name = "redis"
    needs = ("postgres",)  # the latest sign-ups: a new one shows "not in Redis yet", then its row
    gateways = ("cache",)

    def __init__(self, stores):
        self.stores = stores
        self._own_reads = [0, 0]  # keyspace hits, misses caused by our own profile look-ups

    def collect(self, frame: Frame) -> RedisData:
        gw = self.stores.cache
        if self.label is None:
            self.label = gw.label()
        keys, all_hits, all_misses, used_memory, maxmemory = gw.keyspace()
        profiles = gw.profile_count()
        # The entries of the latest Postgres users; Postgres slow, paused or down: a sample from Redis.
        pg = frame.upstream("postgres")
        ids, source = ([u.id for u in pg.latest] if pg is not None else None), "latest users"
        if ids is None:
            ids, source = gw.some_ids(SAMPLE), "scan"
        sample = [CachedProfile(p.id, p.name, p.email, p.ttl) for p in gw.profiles(ids)]
        # Our own look-ups are keyspace hits and misses too: leave them out of the figures shown.
        own_hits, own_misses = self._own_reads
        hits = max(0, all_hits - own_hits)
        misses = max(0, all_misses - own_misses)
        for p in sample:
            self._own_reads[0 if p.ttl is not None else 1] += 2
        self._own_reads[0] += 1  # the SCARD of the index
        return RedisData(profiles, True, keys, hits, misses, sample, source, used_memory, maxmemory)
