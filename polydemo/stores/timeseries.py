"""The time-series store: TimescaleDB when the extension exists, else partitioned PostgreSQL.

:class:`Events` is the gateway for the ``events`` table: its schema (``TimeScaleDB.sql``), the
analytics projector's idempotent inserts, and every count and bucket the checks and the dashboard
show. Every label this module produces says which engine it is; it never claims TimescaleDB when
the extension is not installed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

import psycopg

from polydemo.config import Settings
from polydemo.stores import Gateway, Health, postgres
from polydemo.stores.postgres import _one, estimate_sql

SERVICE = "timeseries"
EPOCH = "2001-01-01 00:00:00+00"  # date_bin origin (any whole minute)
# Adds (or takes away) the events of a data-modifying CTE to their minute's count, in (bucket, type) order so
# two writers lock the same rows in the same order. {rows}: the CTE's name; the date_bin origin is the last %s.
_ROLLUP = (
    "INSERT INTO events_per_minute (bucket, event_type, n)"
    " SELECT date_bin('1 minute', time, %s::timestamptz), coalesce(event_type, ''), {sign}count(*) FROM {rows}"
    " GROUP BY 1, 2 ORDER BY 1, 2"
    " ON CONFLICT (bucket, event_type) DO UPDATE SET n = events_per_minute.n + EXCLUDED.n"
)


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
        """Run ``TimeScaleDB.sql`` (idempotent), then make the coming days' partitions: polydemo's own
        ``polydemo_events_premake`` (no extension), or pg_partman's maintenance in a home it manages (made
        before polydemo managed its partitions itself)."""
        self.conn.execute(sql)
        if self.conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_partman'").fetchone():
            self.conn.execute("SELECT partman.run_maintenance('public.events')")
        else:
            self.conn.execute("SELECT polydemo_events_premake(0, 7)")

    def partitions(self) -> tuple[int, int]:
        """(partitions besides DEFAULT, rows in DEFAULT) of a partitioned ``events``; (0, 0) on a hypertable."""
        if _one(self.conn.execute("SELECT to_regclass('public.events_default')"))[0] is None:
            return (0, 0)
        row = _one(
            self.conn.execute(
                "SELECT (SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                "        WHERE i.inhparent = 'public.events'::regclass AND c.relname <> 'events_default'),"
                " (SELECT count(*) FROM ONLY events_default)"
            )
        )
        return int(row[0]), int(row[1])

    # ------------------------------------------------------------ writes (the analytics projector)
    def insert(self, rows: Iterable[dict]) -> None:
        """Rows of (time, user_id, event_type, properties, event_id), upserted on (event_id, time): a replay
        inserts nothing. The rows actually inserted are added to ``events_per_minute`` by the same statement
        (a replay adds nothing there either). Committed before returning (the projector commits its offsets
        after this)."""
        rows = list(rows)
        if not rows:
            return
        self.conn.execute(
            "WITH ins AS ("
            " INSERT INTO events (time, user_id, event_type, properties, event_id)"
            " SELECT * FROM unnest(%s::timestamptz[], %s::uuid[], %s::text[], %s::jsonb[], %s::text[])"
            " ON CONFLICT (event_id, time) DO NOTHING RETURNING time, event_type) "
            + _ROLLUP.format(sign="+", rows="ins"),
            (
                [r["time"] for r in rows],
                [r["user_id"] for r in rows],
                [r["event_type"] for r in rows],
                [json.dumps(r["properties"]) for r in rows],
                [r["event_id"] for r in rows],
                EPOCH,
            ),
        )
        if not self._autocommit:
            self.conn.commit()

    def delete_history(self, user_ids: list[str], post_ids: list[str]) -> int:
        """Remove the events of these users and posts (a scenario's earlier run), and their per-minute counts."""
        cur = self.conn.execute(
            "WITH gone AS (DELETE FROM events WHERE user_id = ANY(%s::uuid[]) OR properties->>'post_id' = ANY(%s)"
            " RETURNING time, event_type), counted AS (" + _ROLLUP.format(sign="-", rows="gone") + " RETURNING 1) "
            "SELECT count(*) FROM gone",
            (user_ids, post_ids, EPOCH),
        )
        n = _one(cur)[0]
        if not self._autocommit:
            self.conn.commit()
        return n

    def clear(self) -> None:
        self.conn.execute("TRUNCATE events, events_per_minute")

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

    def per_minute(
        self, minutes: int, exact_below: int | None = None
    ) -> tuple[int, list[datetime], dict[str, list[int]]]:
        """(all events, the last ``minutes`` bucket starts oldest first, event_type -> count per bucket).

        ``exact_below``: count all events exactly only while the planner estimates fewer than this many rows,
        else return the estimate (:attr:`total_estimated` says which); None: always exact. The buckets are
        read from ``events_per_minute`` (kept by :meth:`insert` and :meth:`delete_history`), exact and a few
        dozen rows however many events the window holds."""
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
        rows = self.conn.execute(
            "SELECT bucket, event_type, n FROM events_per_minute WHERE bucket >= %s AND bucket <= %s AND n <> 0",
            (start, current),
        ).fetchall()
        buckets = [start + timedelta(minutes=i) for i in range(minutes)]
        index = {m: i for i, m in enumerate(buckets)}
        per_type: dict[str, list[int]] = {}
        for bucket, event_type, n in rows:
            slot = index.get(bucket)
            if slot is not None:
                per_type.setdefault(event_type or "?", [0] * minutes)[slot] += n
        return total, buckets, dict(sorted(per_type.items()))

    def per_minute_counted(self, minutes: int) -> dict[str, list[int]]:
        """The same buckets counted from the events themselves (what ``events_per_minute`` must equal)."""
        current = _one(self.conn.execute("SELECT date_bin('1 minute', now(), %s::timestamptz)", (EPOCH,)))[0]
        start = current - timedelta(minutes=minutes - 1)
        rows = self.conn.execute(
            "SELECT date_bin('1 minute', time, %s::timestamptz), event_type, count(*) FROM events"
            " WHERE time >= %s AND time < %s GROUP BY 1, 2",
            (EPOCH, start, current + timedelta(minutes=1)),
        ).fetchall()
        out: dict[str, list[int]] = {}
        for bucket, event_type, n in rows:
            out.setdefault(event_type or "?", [0] * minutes)[int((bucket - start).total_seconds() // 60)] += n
        return dict(sorted(out.items()))
