"""The Postgres panel: users and follows (exact while small, catalog estimates at scale), the latest sign-ups,
and the Debezium replication slot (``stores.postgres.Users``)."""

from __future__ import annotations

import time

from polydemo.dashboard.model import PostgresData, SlotData, UserRow
from polydemo.dashboard.sources import SAMPLE, BaseSource, Frame, iso

SLOT_PEEK_S = 2.0  # how often a frame measures the oldest unsent change in the replication slot


class PostgresSource(BaseSource):
    name = "postgres"
    gateways = ("users",)

    def __init__(self, stores):
        self.stores = stores
        self._slot_peeked = 0.0
        self._slot_age: tuple[float | None, float] = (None, 0.0)  # the last peek's age, and when (epoch s)

    def collect(self, frame: Frame) -> PostgresData:
        try:
            return self._read()
        except Exception:  # broad, and re-raised (the collector shows it): a broken psycopg connection is made anew
            self.stores.drop("users")  # a broken psycopg connection does not heal itself
            raise

    def _read(self) -> PostgresData:
        users = self.stores.users
        if self.label is None:
            self.label = users.label()
        # Exact while small, catalog estimates at scale (a count(*) of 100,000 rows every frame costs ~20 ms).
        n_users, n_follows, users_est, follows_est = users.screen_counts()
        latest = [UserRow(u.id, u.name, u.email, iso(u.created_at)) for u in users.latest(SAMPLE)]
        return PostgresData(n_users, n_follows, latest, self._slot(users), users_est, follows_est)

    def _slot(self, users) -> SlotData | None:
        """The slot every frame; its oldest unsent change (a peek of a copy) at most every SLOT_PEEK_S."""
        now = time.monotonic()
        peek = now - self._slot_peeked >= SLOT_PEEK_S
        info = users.slot(peek=peek)
        if peek:
            self._slot_peeked, self._slot_age = now, (info.oldest_unsent_age_s, time.time())
        elif info.unsent_bytes and self._slot_age[0] is not None:
            info.oldest_unsent_age_s = self._slot_age[0] + (time.time() - self._slot_age[1])
        return SlotData(**info.as_dict())
