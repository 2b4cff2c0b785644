"""PostgreSQL, the system of record for users and follows (UserSvc)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

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


# ---------------------------------------------------------------- the Debezium replication slot

@dataclass
class SlotInfo:
    """The logical replication slot Debezium reads, as Postgres sees it."""

    name: str
    exists: bool
    active: bool = False
    wal_status: str | None = None  # reserved, extended, unreserved (past the cap), lost (invalidated)
    retained_bytes: int | None = None  # WAL kept on disk for the slot (current LSN - restart_lsn)
    unsent_bytes: int | None = None  # WAL the connector has not confirmed (current LSN - confirmed_flush_lsn)
    safe_bytes: int | None = None  # how much more WAL may be written before the slot is invalidated
    cap_bytes: int | None = None  # max_slot_wal_keep_size (None: no cap)
    oldest_unsent_age_s: float | None = None  # age of the oldest committed change not yet sent (None: none)
    error: str | None = None  # why the age could not be read

    @property
    def invalidated(self) -> bool:
        return self.wal_status == "lost"

    def as_dict(self) -> dict:
        return {**asdict(self), "invalidated": self.invalidated}


def slot_info(conn: psycopg.Connection, slot_name: str, publication: str, peek: bool = True) -> SlotInfo:
    """Retained WAL, the cap and the oldest unsent change of ``slot_name`` (``conn`` in autocommit).

    The age comes from a *temporary copy* of the slot, peeked and dropped at once: peeking the slot
    itself would hold it while Connect may be starting (Debezium then waits 10 s to retry), and
    would not be possible at all while Connect streams from it. Needs ``track_commit_timestamp``.
    """
    row = conn.execute(
        "SELECT active, wal_status, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint, safe_wal_size, "
        "(SELECT setting::bigint * 1024 * 1024 FROM pg_settings WHERE name = 'max_slot_wal_keep_size' "
        " AND setting <> '-1') FROM pg_replication_slots WHERE slot_name = %s", (slot_name,)).fetchone()
    if row is None:
        return SlotInfo(slot_name, False)
    info = SlotInfo(slot_name, True, bool(row[0]), row[1], row[2], row[3], row[4], row[5])
    if not peek or info.invalidated or not info.unsent_bytes:
        return info
    temp = f"polydemo_peek_{os.getpid()}"
    try:
        conn.execute("SELECT pg_copy_logical_replication_slot(%s, %s, true)", (slot_name, temp))
        try:
            first = conn.execute(
                "SELECT xid FROM pg_logical_slot_peek_binary_changes(%s, NULL, 1, 'proto_version', '1', "
                "'publication_names', %s) LIMIT 1", (temp, publication)).fetchone()
            if first is not None:
                age = conn.execute("SELECT extract(epoch FROM now() - pg_xact_commit_timestamp(%s::text::xid))",
                                   (str(first[0]),)).fetchone()[0]
                info.oldest_unsent_age_s = float(age) if age is not None else None
        finally:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (temp,))
    except psycopg.Error as exc:
        info.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160]}"
    return info
