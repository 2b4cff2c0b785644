"""PostgreSQL, the system of record for users and follows (UserSvc)."""

from __future__ import annotations

import psycopg

from polydemo.config import Settings
from polydemo.stores import Health

SERVICE = "postgres"


def connect(settings: Settings, autocommit: bool = True, service: str = SERVICE) -> psycopg.Connection:
    return psycopg.connect(settings.pg_conninfo(service), autocommit=autocommit)


def health(settings: Settings, service: str = SERVICE) -> Health:
    try:
        with connect(settings, service=service) as conn:
            conn.execute("SELECT 1").fetchone()
            version = conn.execute("SHOW server_version").fetchone()[0]
        return Health(True, "SELECT 1 ok", f"PostgreSQL {version.split()[0]}")
    except Exception as exc:  # noqa: BLE001 - health never raises
        return Health.down(exc)
