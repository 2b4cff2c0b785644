"""The time-series store: TimescaleDB when the extension exists, else partitioned PostgreSQL.

:class:`Events` is the gateway for the ``events`` table: its schema (``TimeScaleDB.sql``), the
analytics projector's idempotent inserts, and every count and bucket the checks and the dashboard
show. Every label this module produces says which engine it is; it never claims TimescaleDB when
the extension is not installed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

import psycopg

from polydemo.config import Settings
from polydemo.stores import Gateway, Health, postgres
from polydemo.stores.postgres import _one, estimate_sql

SERVICE = "timeseries"
EPOCH = "2001-01-01 00:00:00+00"  # date_bin origin (any whole minute)


def connect(settings: Settings, autocommit: bool = True, timeout: float | None = None) -> psycopg.Connection:
    return postgres.connect(settings, autocommit=autocommit, service=SERVICE, timeout=timeout)


def engine_label(conn: psycopg.Connection) -> str:
    version = _one(conn.execute("SHOW server_version"))[0].split()[0]
    major = version.split(".")[0]
    row = conn.execute(
        "SELECT installed_version, default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    if row is None:
        return f"PostgreSQL {major}, partitioned (timescaledb not installed)"
    installed, default = row
    return f"TimescaleDB {installed or default} hypertable (PostgreSQL {major})"


def health(settings: Settings) -> Health:
    try:
        with connect(settings) as conn:
            conn.execute("SELECT 1").fetchone()
            label = engine_label(conn)
        return Health(True, "SELECT 1 ok", label)
    except Exception as exc:  # noqa: BLE001 - health never raises: a down store is an answer
        return Health.down(exc)


class Events(Gateway[psycopg.Connection]):
    """The ``events`` table: schema, idempotent inserts, counts and per-minute buckets."""

    service = SERVICE

    def __init__(
        self,
        settings: Settings,
        conn: psycopg.Connection | None = None,
        timeout: float | None = None,
        autocommit: bool = True,
    ):
        super().__init__(settings, conn, timeout)
        self._autocommit = autocommit

    def _connect(self) -> psycopg.Connection:
        return connect(self.settings, autocommit=self._autocommit, timeout=self._timeout)

    def _usable(self, client: psycopg.Connection) -> bool:
        return not (client.closed or client.broken)

    @property
    def conn(self) -> psycopg.Connection:
        return self.client

    def label(self) -> str:
        return engine_label(self.conn)

    # ------------------------------------------------------------ schema
    def apply_schema(self, sql: str) -> None:
        """Run ``TimeScaleDB.sql`` (idempotent), then pg_partman's maintenance where it manages the table."""
        self.conn.execute(sql)
        if self.conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_partman'").fetchone():
            self.conn.execute("SELECT partman.run_maintenance('public.events')")

    # ------------------------------------------------------------ writes (the analytics projector)
    def insert(self, rows: Iterable[dict]) -> None:
        """Rows of (time, user_id, event_type, properties, event_id), upserted on (event_id, time): a replay
        inserts nothing. Committed before returning (the projector commits its offsets after this)."""
        rows = list(rows)
        if not rows:
            return
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO events (time, user_id, event_type, properties, event_id) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (event_id, time) DO NOTHING",
                [(r["time"], r["user_id"], r["event_type"], json.dumps(r["properties"]), r["event_id"]) for r in rows],
            )
        if not self._autocommit:
            self.conn.commit()

    def delete_history(self, user_ids: list[str], post_ids: list[str]) -> int:
        """Remove the events of these users and posts (a scenario's earlier run)."""
        cur = self.conn.execute(
            "DELETE FROM events WHERE user_id = ANY(%s::uuid[]) OR properties->>'post_id' = ANY(%s)",
            (user_ids, post_ids),
        )
        return cur.rowcount

    def clear(self) -> None:
        self.conn.execute("TRUNCATE events")

    # ------------------------------------------------------------ reads
    def count(self, event_type: str | None = None, post_id: str | None = None) -> int:
        sql, args = "SELECT count(*) FROM events WHERE true", []
        if event_type:
            sql += " AND event_type = %s"
            args.append(event_type)
        if post_id:
            sql += " AND properties->>'post_id' = %s"
            args.append(post_id)
        return _one(self.conn.execute(sql, args))[0]

    def count_for_users(self, event_type: str, user_ids: list[str]) -> int:
        return _one(
            self.conn.execute(
                "SELECT count(*) FROM events WHERE event_type = %s AND user_id = ANY(%s::uuid[])",
                (event_type, user_ids),
            )
        )[0]

    def has_event(self, user_id: str, event_type: str) -> bool:
        return (
            self.conn.execute(
                "SELECT 1 FROM events WHERE user_id = %s AND event_type = %s LIMIT 1", (user_id, event_type)
            ).fetchone()
            is not None
        )

    total_estimated = False  # whether the last per_minute() total was an estimate
    # per_minute's older buckets: (when counted, the "previous minute" then, the window's start then, rows)
    _older: tuple[float, datetime, datetime, list] | None = None

    def per_minute(
        self, minutes: int, exact_below: int | None = None, reuse_s: float = 0.0
    ) -> tuple[int, list[datetime], dict[str, list[int]]]:
        """(all events, the last ``minutes`` bucket starts oldest first, event_type -> count per bucket).

        ``exact_below``: count all events exactly only while the planner estimates fewer than this many rows,
        else return the estimate (:attr:`total_estimated` says which); None: always exact.
        ``reuse_s``: the buckets before the last two are counted again only every ``reuse_s`` seconds (and when
        the minute turns); in between, only the current and the previous minute are counted. After a load, the
        window holds hundreds of thousands of rows: the dashboard passes 10 s, so a late event in an older
        minute shows within 10 s. 0: count the whole window every time."""
        current, estimate = _one(
            self.conn.execute(
                f"SELECT date_bin('1 minute', now(), %s::timestamptz), ({estimate_sql('events')})",
                (EPOCH,),
            )
        )
        self.total_estimated = exact_below is not None and estimate is not None and estimate >= exact_below
        exact = None if self.total_estimated else _one(self.conn.execute("SELECT count(*) FROM events"))[0]
        total = int(estimate) if exact is None else exact
        start = current - timedelta(minutes=minutes - 1)
        recent = current - timedelta(minutes=1)
        now = time.monotonic()
        kept = self._older
        reuse = kept is not None and kept[1] == recent and kept[2] <= start and now - kept[0] < reuse_s
        query = (
            "SELECT date_bin('1 minute', time, %s::timestamptz) AS bucket, event_type, count(*) FROM events "
            "WHERE time >= %s AND time < %s GROUP BY 1, 2"
        )
        rows = self.conn.execute(query, (EPOCH, recent if reuse else start, current + timedelta(minutes=1))).fetchall()
        if reuse:
            assert kept is not None
            rows = [r for r in kept[3] if r[0] >= start] + rows
        elif reuse_s > 0:
            self._older = (now, recent, start, [r for r in rows if r[0] < recent])
        buckets = [start + timedelta(minutes=i) for i in range(minutes)]
        index = {m: i for i, m in enumerate(buckets)}
        per_type: dict[str, list[int]] = {}
        for bucket, event_type, n in rows:
            slot = index.get(bucket)
            if slot is not None:
                per_type.setdefault(event_type or "?", [0] * minutes)[slot] += n
        return total, buckets, dict(sorted(per_type.items()))
