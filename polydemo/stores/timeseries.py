"""The time-series store (TimeSvc): TimescaleDB when the extension exists, else partitioned PostgreSQL.

Every label this module produces says which one it is; it never claims TimescaleDB
when the extension is not installed.
"""

from __future__ import annotations

import psycopg

from polydemo.config import Settings
from polydemo.stores import Health, postgres

SERVICE = "timeseries"


def connect(settings: Settings, autocommit: bool = True) -> psycopg.Connection:
    return postgres.connect(settings, autocommit=autocommit, service=SERVICE)


def engine_label(conn: psycopg.Connection) -> str:
    version = conn.execute("SHOW server_version").fetchone()[0].split()[0]
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
    except Exception as exc:  # noqa: BLE001
        return Health.down(exc)
