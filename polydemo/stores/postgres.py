"""PostgreSQL, the system of record for users and follows. Everything polydemo asks of it is here.

:class:`Users` is the gateway: one connection, the schema (``database.sql``), every query on
``users`` and ``follows``, and the Debezium replication slot. The domain (``domain/users.py``) adds
the rules (validation, hashing) on top of it; seed, reset, the checks and the dashboard ask it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

import psycopg
import psycopg.sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from polydemo.config import Settings
from polydemo.errors import AlreadyExists
from polydemo.stores import Gateway, Health, statements

SERVICE = "postgres"


ANSWER_S = 60.0
"""How long a connection made without ``timeout`` waits for a server that accepted it but says nothing (a
SIGSTOPped or frozen Postgres): long enough for any statement polydemo runs (a reset, a bulk load), short
enough that nothing waits forever. With ``timeout``, the wait is bounded at ``timeout`` + 1 s instead (the
server's statement_timeout ends a slow statement before that)."""


class NotAnswering(psycopg.OperationalError):
    """The server accepted the connection but sent nothing back within the bound: frozen, not down."""


class AnsweringConnection(psycopg.Connection):
    """A psycopg connection that waits at most ``answer_s`` for any reply (psycopg's own wait timeout, which it
    otherwise only uses for notifies). A wait that expires leaves the protocol mid-exchange, so the connection is
    closed and :class:`NotAnswering` raised: the gateway makes a new one on its next use. TCP cannot tell (the
    kernel acknowledges for a stopped process), and statement_timeout is the frozen server's own to enforce."""

    answer_s: float = ANSWER_S
    label: str = "postgres"

    def wait(self, gen, interval=psycopg.connection._WAIT_INTERVAL, timeout=None):
        try:
            return super().wait(gen, interval=interval, timeout=self.answer_s if timeout is None else timeout)
        except psycopg.errors._WaitTimeout:
            self.pgconn.finish()
            raise NotAnswering(f"{self.label} did not answer in {self.answer_s:g} s (frozen or overloaded)") from None


def connect(
    settings: Settings,
    autocommit: bool = True,
    service: str = SERVICE,
    timeout: float | None = None,
    application_name: str = "polydemo",
) -> psycopg.Connection:
    """A connection; ``timeout`` also bounds every statement (the dashboard's frames use 1 s). Every wait for the
    server is bounded (:class:`AnsweringConnection`)."""
    kwargs: dict = {"autocommit": autocommit, "application_name": application_name}
    if timeout is not None:
        kwargs.update(connect_timeout=max(1, int(timeout)), options=f"-c statement_timeout={int(timeout * 1000)}")
    conn = AnsweringConnection.connect(settings.pg_conninfo(service), **kwargs)
    conn.answer_s = ANSWER_S if timeout is None else timeout + 1.0
    conn.label = f"{service} at {settings.host}:{settings.ports[service]}"
    return conn


def _one(cur: psycopg.Cursor) -> tuple:
    """The one row a query must return (a count, a setting): a missing row is a broken server, not None."""
    row = cur.fetchone()
    if row is None:
        raise psycopg.DataError("the query returned no row")
    return row


def server_label(conn: psycopg.Connection) -> str:
    return f"PostgreSQL {_one(conn.execute('SHOW server_version'))[0].split()[0]}"


def health(settings: Settings, service: str = SERVICE) -> Health:
    try:
        with connect(settings, service=service) as conn:
            conn.execute("SELECT 1").fetchone()
            label = server_label(conn)
        return Health(True, "SELECT 1 ok", label)
    except Exception as exc:  # noqa: BLE001 - health never raises: a down store is an answer
        return Health.down(exc)


def _maintenance(settings: Settings, service: str) -> psycopg.Connection:
    db = settings.pg_db if service == SERVICE else settings.ts_db
    return psycopg.connect(settings.pg_conninfo(service).replace(f"dbname={db}", "dbname=postgres"), autocommit=True)


def maintenance_health(settings: Settings, service: str = SERVICE) -> Health:
    """Readiness before the app database exists: ``SELECT 1`` in the ``postgres`` database (there from initdb)."""
    try:
        with _maintenance(settings, service) as conn:
            conn.execute("SELECT 1").fetchone()
        return Health(True, "SELECT 1 ok")
    except Exception as exc:  # noqa: BLE001 - health never raises: a down store is an answer
        return Health.down(exc)


def ensure_database(settings: Settings, service: str = SERVICE) -> bool:
    """Create the app database (users, or analytics on the time-series server) if missing; True when created."""
    db = settings.pg_db if service == SERVICE else settings.ts_db
    with _maintenance(settings, service) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
            return False
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(db)))
        return True


@dataclass
class UserRow:
    id: str
    email: str
    name: str | None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def as_dict(self) -> dict:
        return asdict(self)


_COLUMNS = "id, email, name, created_at, updated_at"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _user(row: dict | None) -> UserRow | None:
    if row is None:
        return None
    return UserRow(str(row["id"]), row["email"], row["name"], row.get("created_at"), row.get("updated_at"))


# The schema-change story's DDL: only these tables, columns and types, never SQL from a scenario file.
STORY_COLUMNS: dict[str, tuple[str, ...]] = {"users": ("bio", "about")}
STORY_TYPES = {"text": "TEXT", "varchar(500)": "VARCHAR(500)"}
BIO_COLUMNS = ("bio", "about")


EXACT_BELOW = 50_000
"""Tables smaller than this are counted exactly on the dashboard (``count(*)`` of 50,000 rows is ~5 ms)."""


def estimate_sql(table: str) -> str:
    """A scalar subquery: the planner's row estimate of ``table`` and its partitions, scaled to their current size
    (``reltuples / relpages * pages now``, as the planner does), so inserts since the last ANALYZE are counted.
    A part never analyzed (reltuples -1) is given the density of the others. NULL when nothing was analyzed
    yet (then the caller counts exactly). ``table`` is one of ours, never user input."""
    return (
        "WITH parts AS (SELECT c.reltuples, c.relpages, pg_relation_size(c.oid) / current_setting('block_size')::int"
        " AS pages FROM pg_class c WHERE c.relkind = 'r' AND (c.oid = to_regclass('public." + table + "') OR c.oid IN"
        " (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass('public." + table + "')))),"
        " density AS (SELECT sum(reltuples) / NULLIF(sum(relpages), 0) AS d FROM parts WHERE reltuples >= 0)"
        " SELECT round(sum(CASE WHEN p.reltuples >= 0 AND p.relpages > 0 THEN p.reltuples / p.relpages * p.pages"
        " WHEN p.reltuples >= 0 THEN p.reltuples ELSE p.pages * density.d END)) FROM parts p, density"
        " HAVING bool_or(p.reltuples >= 0 OR p.pages = 0)"
        " AND (min(density.d) IS NOT NULL OR bool_and(p.reltuples >= 0))"
    )


def check_story_table(table: str) -> str:
    if table not in STORY_COLUMNS:
        raise ValueError(f"table {table!r} is not open to schema changes; expected one of: {', '.join(STORY_COLUMNS)}")
    return table


def check_story_column(table: str, column: str) -> str:
    check_story_table(table)
    if column not in STORY_COLUMNS[table]:
        raise ValueError(
            f"column {column!r} of {table} is not open to schema changes; expected one of: "
            + ", ".join(STORY_COLUMNS[table])
        )
    return column


def _note(query: str, params: tuple, key: str) -> None:
    """Into the statement log (``--show-commands``), when one is recording: the SQL as it ran."""
    if statements.active():
        statements.note(SERVICE, statements.sql(query, params), key)


class Users(Gateway[psycopg.Connection]):
    """The Postgres gateway: users, follows, the publication and the replication slot."""

    service = SERVICE

    def _connect(self) -> psycopg.Connection:
        return connect(self.settings, timeout=self._timeout)

    def _usable(self, client: psycopg.Connection) -> bool:
        return not (client.closed or client.broken)  # psycopg does not heal a closed connection

    @property
    def conn(self) -> psycopg.Connection:
        """One autocommit connection, reopened after it broke."""
        return self.client

    def label(self) -> str:
        return server_label(self.conn)

    # ------------------------------------------------------------ schema
    def apply_schema(self, sql: str) -> None:
        """Run ``database.sql`` (idempotent)."""
        self.conn.execute(sql)

    # ------------------------------------------------------------ users
    def insert_user(self, email: str, name: str, hashed_password: str, user_id: str | None = None) -> UserRow:
        """Insert one user; raises :class:`~polydemo.errors.AlreadyExists` for a taken email (or id)."""
        if user_id is None:
            query = f"INSERT INTO users (email, name, hashed_password) VALUES (%s, %s, %s) RETURNING {_COLUMNS}"
            params: tuple = (email, name, hashed_password)
        else:
            query = f"INSERT INTO users (id, email, name, hashed_password) VALUES (%s, %s, %s, %s) RETURNING {_COLUMNS}"
            params = (user_id, email, name, hashed_password)
        with self.conn.cursor(row_factory=dict_row) as cur:
            try:
                cur.execute(query, params)
            except psycopg.errors.UniqueViolation as exc:  # autocommit: nothing was written, the connection is fine
                what = "id" if exc.diag.constraint_name == "users_pkey" else "email"
                raise AlreadyExists(
                    f"a user with this {what} exists already", details=str(exc).strip().splitlines()[0]
                ) from exc
            row: UserRow = _user(cur.fetchone())  # type: ignore[assignment]
        _note(query, (*params[:-1], statements.Secret(hashed_password)), f"user:{row.id}")
        return row

    def insert_users(self, rows: Iterable[tuple[str, str, str, str]], batch: int = 100, on_batch=None) -> int:
        """(id, email, name, hashed_password) rows, committed ``batch`` at a time (so CDC streams them);
        rows whose id or email exists already are skipped. Returns how many were inserted."""
        rows = list(rows)
        done = inserted = 0
        with connect(self.settings, autocommit=False) as conn:
            for start in range(0, len(rows), batch):
                chunk = rows[start : start + batch]
                with conn.cursor() as cur:
                    # One statement per batch (the columns as arrays): a round trip per batch, not per row, so a
                    # load of 10,000 sign-ups/s costs the writer little. Still one WAL record, so one change
                    # event, per row.
                    cur.execute(
                        "INSERT INTO users (id, email, name, hashed_password) "
                        "SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[]) "
                        "ON CONFLICT DO NOTHING",
                        [list(col) for col in zip(*chunk, strict=True)],
                    )
                    inserted += cur.rowcount
                conn.commit()
                done += len(chunk)
                if on_batch:
                    on_batch(done)
        return inserted

    def password_hash(self, email: str) -> tuple[UserRow, str] | None:
        """The user with this email and their argon2id hash, for sign-in only (the hash never leaves the server)."""
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(f"SELECT {_COLUMNS}, hashed_password FROM users WHERE email = %s", (email,))
            row = cur.fetchone()
        if row is None:
            return None
        hashed = row.pop("hashed_password")
        return _user(row), hashed  # type: ignore[return-value]

    def names(self, ids: Sequence[str]) -> dict[str, str]:
        """id -> name of these users (those that exist and have one): the web view's labels."""
        valid = [i for i in ids if _UUID.fullmatch(i)]  # the key is a uuid: anything else names nobody
        if not valid:
            return {}
        rows = self.conn.execute("SELECT id::text, name FROM users WHERE id = ANY(%s::uuid[])", (valid,)).fetchall()
        return {str(i): n for i, n in rows if n}

    def wal_insert_lsn(self) -> int:
        """The WAL position now, as Debezium's ``source.lsn`` counts (an int): every change committed after this
        call has an LSN at or above it (the web gateway's read-your-writes mark)."""
        (lsn,) = _one(self.conn.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn"))
        return int(lsn)

    def user(self, email_or_id: str) -> UserRow | None:
        with self.conn.cursor(row_factory=dict_row) as cur:
            if "@" in email_or_id:
                cur.execute(f"SELECT {_COLUMNS} FROM users WHERE email = %s", (email_or_id.strip().lower(),))
            else:
                cur.execute(f"SELECT {_COLUMNS} FROM users WHERE id::text = %s", (email_or_id,))
            return _user(cur.fetchone())

    def rename(self, user_id: str, name: str) -> UserRow:
        query = f"UPDATE users SET name = %s, updated_at = now() WHERE id = %s RETURNING {_COLUMNS}"
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, (name, user_id))
            row = _user(cur.fetchone())
        _note(query, (name, user_id), f"user:{user_id}")
        return row  # type: ignore[return-value]

    def delete_user(self, user_id: str) -> None:
        query = "DELETE FROM users WHERE id = %s"
        self.conn.execute(query, (user_id,))
        _note(query, (user_id,), f"user:{user_id}")

    def delete_users(self, emails: Sequence[str] = (), email_like: str | None = None) -> list[str]:
        """Delete by email, or by a LIKE pattern; returns the ids deleted (their follows go too)."""
        ids: list[str] = []
        if emails:
            ids += [
                str(r[0])
                for r in self.conn.execute(
                    "DELETE FROM users WHERE email = ANY(%s) RETURNING id", (list(emails),)
                ).fetchall()
            ]
        if email_like:
            ids += [
                str(r[0])
                for r in self.conn.execute(
                    "DELETE FROM users WHERE email LIKE %s RETURNING id", (email_like,)
                ).fetchall()
            ]
        return ids

    def emails(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT email FROM users").fetchall()}

    def ids_like(self, email_like: str) -> list[str]:
        return [
            str(r[0]) for r in self.conn.execute("SELECT id FROM users WHERE email LIKE %s", (email_like,)).fetchall()
        ]

    def first_user_id(self) -> str | None:
        row = self.conn.execute("SELECT id FROM users ORDER BY email LIMIT 1").fetchone()
        return str(row[0]) if row else None

    def latest(self, n: int) -> list[UserRow]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM users ORDER BY created_at DESC, id DESC LIMIT %s", (n,))
            return [_user(r) for r in cur.fetchall()]  # type: ignore[misc]

    # ------------------------------------------------------------ counts (the one definition of each)
    def user_count(self) -> int:
        return _one(self.conn.execute("SELECT count(*) FROM users"))[0]

    def follow_count(self) -> int:
        return _one(self.conn.execute("SELECT count(*) FROM follows"))[0]

    def counts(self) -> tuple[int, int]:
        """(users, follows) in one round trip."""
        users, follows = _one(self.conn.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM follows)"))
        return users, follows

    def screen_counts(self, exact_below: int = EXACT_BELOW) -> tuple[int, int, bool, bool]:
        """(users, follows, users estimated, follows estimated) for the dashboard: an exact ``count(*)`` while a
        table is small, past ``exact_below`` rows the planner's estimate (:func:`estimate_sql`), which costs
        the same at any size. Checks and ``read`` use :meth:`counts` (always exact)."""
        users, follows = _one(self.conn.execute(f"SELECT ({estimate_sql('users')}), ({estimate_sql('follows')})"))
        exact = [t for t, est in (("users", users), ("follows", follows)) if est is None or est < exact_below]
        got = {"users": users, "follows": follows}
        if exact:
            values = _one(self.conn.execute("SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in exact)))
            got.update(zip(exact, values, strict=True))
        return int(got["users"]), int(got["follows"]), "users" not in exact, "follows" not in exact

    def follower_count(self, user_id: str) -> int:
        return _one(self.conn.execute("SELECT count(*) FROM follows WHERE followee_id = %s", (user_id,)))[0]

    # ------------------------------------------------------------ follows
    def follow(self, follower_id: str, followee_id: str) -> bool:
        """True when the edge is new (following twice is not an error)."""
        query = "INSERT INTO follows (follower_id, followee_id) VALUES (%s, %s) ON CONFLICT DO NOTHING"
        cur = self.conn.execute(query, (follower_id, followee_id))
        _note(query, (follower_id, followee_id), f"follow:{follower_id}:{followee_id}")
        return cur.rowcount == 1

    def follow_many(self, pairs: Iterable[tuple[str, str]]) -> int:
        before = self.follow_count()
        with self.conn.transaction(), self.conn.cursor() as cur:  # one commit: one CDC transaction
            cur.executemany(
                "INSERT INTO follows (follower_id, followee_id) VALUES (%s, %s) ON CONFLICT DO NOTHING", list(pairs)
            )
        return self.follow_count() - before

    def unfollow(self, follower_id: str, followee_id: str) -> bool:
        query = "DELETE FROM follows WHERE follower_id = %s AND followee_id = %s"
        cur = self.conn.execute(query, (follower_id, followee_id))
        _note(query, (follower_id, followee_id), f"follow:{follower_id}:{followee_id}")
        return cur.rowcount == 1

    # ------------------------------------------------------------ schema changes (the schema-change story)
    def columns(self, table: str = "users") -> list[str]:
        """The table's columns, in order (what Debezium's change events will carry, less the excluded ones)."""
        check_story_table(table)
        rows = self.conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s "
            "ORDER BY ordinal_position",
            (table,),
        ).fetchall()
        return [r[0] for r in rows]

    def add_column(self, table: str, column: str, type_: str) -> bool:
        """``ALTER TABLE … ADD COLUMN IF NOT EXISTS`` for a column of the allow-list; True when it was added."""
        check_story_column(table, column)
        if type_ not in STORY_TYPES:
            raise ValueError(f"column type {type_!r} is not allowed; expected one of: {', '.join(STORY_TYPES)}")
        if column in self.columns(table):
            return False
        query = psycopg.sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} " + STORY_TYPES[type_]).format(
            psycopg.sql.Identifier(table), psycopg.sql.Identifier(column)
        )
        self.conn.execute(query)
        _note(query.as_string(self.conn), (), f"schema:{table}")
        return True

    def drop_column(self, table: str, column: str) -> bool:
        """``ALTER TABLE … DROP COLUMN IF EXISTS`` for a column of the allow-list; True when it was there."""
        check_story_column(table, column)
        if column not in self.columns(table):
            return False
        query = psycopg.sql.SQL("ALTER TABLE {} DROP COLUMN IF EXISTS {}").format(
            psycopg.sql.Identifier(table), psycopg.sql.Identifier(column)
        )
        self.conn.execute(query)
        _note(query.as_string(self.conn), (), f"schema:{table}")
        return True

    def backfill_column(self, table: str, source: str, target: str) -> int:
        """``target = source`` where ``target`` is still NULL (one UPDATE: one CDC event per row); the row count."""
        check_story_column(table, source)
        check_story_column(table, target)
        query = psycopg.sql.SQL(
            "UPDATE {t} SET {dst} = {src}, updated_at = now() WHERE {dst} IS NULL AND {src} IS NOT NULL"
        ).format(
            t=psycopg.sql.Identifier(table), dst=psycopg.sql.Identifier(target), src=psycopg.sql.Identifier(source)
        )
        cur = self.conn.execute(query)
        _note(query.as_string(self.conn), (), f"schema:{table}")
        return cur.rowcount

    def drop_story_columns(self) -> list[str]:
        """Drop every column the schema-change story may have added (``database.sql`` stays the truth)."""
        return [c for c in STORY_COLUMNS["users"] if self.drop_column("users", c)]

    def set_bio(self, user_id: str, bio: str) -> list[str]:
        """Write the bio into every bio column the table has now (``bio`` and/or ``about``: expand/contract,
        both are written while both exist); returns the columns written (none: the table has no bio column)."""
        present = [c for c in BIO_COLUMNS if c in self.columns("users")]
        if not present:
            return []
        sets = psycopg.sql.SQL(", ").join(psycopg.sql.SQL("{} = %s").format(psycopg.sql.Identifier(c)) for c in present)
        query = psycopg.sql.SQL("UPDATE users SET {}, updated_at = now() WHERE id = %s").format(sets)
        params = (*([bio] * len(present)), user_id)
        self.conn.execute(query, params)
        _note(query.as_string(self.conn), params, f"user:{user_id}")
        return present

    def bio(self, user_id: str) -> str | None:
        """The bio as Postgres holds it (``about`` first, then ``bio``), None when unset or no such column."""
        for c in (c for c in ("about", "bio") if c in self.columns("users")):
            row = self.conn.execute(
                psycopg.sql.SQL("SELECT {} FROM users WHERE id = %s").format(psycopg.sql.Identifier(c)), (user_id,)
            ).fetchone()
            if row and row[0] is not None:
                return row[0]
        return None

    WHO_TO_FOLLOW_SQL = """
        SELECT f1.follower_id::text, f2.followee_id::text, count(*)
          FROM follows f1
          JOIN follows f2 ON f2.follower_id = f1.followee_id
         WHERE f2.followee_id <> f1.follower_id
           AND NOT EXISTS (SELECT 1 FROM follows d
                            WHERE d.follower_id = f1.follower_id AND d.followee_id = f2.followee_id)
         GROUP BY 1, 2"""

    def who_to_follow(self) -> dict[str, dict[str, int]]:
        """Friends of friends on the system of record: user -> {candidate: paths user -> m -> candidate},
        without the user and whom the user already follows (what the ``wtf`` read model must equal)."""
        out: dict[str, dict[str, int]] = {}
        for user, candidate, paths in self.conn.execute(self.WHO_TO_FOLLOW_SQL).fetchall():
            out.setdefault(user, {})[candidate] = int(paths)
        return out

    # ------------------------------------------------------------ the transactional outbox (user_posts + outbox)
    _POST_INSERT = (
        "INSERT INTO user_posts (id, author_id, title, body, tags, created_at) VALUES (%s, %s, %s, %s, %s, %s)"
    )
    _OUTBOX_INSERT = "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload) VALUES (%s, %s, %s, %s, %s)"

    def insert_post_with_outbox(self, post: dict, entry: dict, before_commit: Callable[[], None] | None = None) -> None:
        """The post row and its outbox entry in ONE transaction (both or neither). ``before_commit`` runs
        after both INSERTs, inside the transaction: the crash drill kills the process there."""
        post_params = (post["id"], post["author_id"], post["title"], post["body"], post["tags"], post["created_at"])
        entry_params = (entry["id"], entry["aggregatetype"], entry["aggregateid"], entry["type"])
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(self._POST_INSERT, post_params)
            cur.execute(self._OUTBOX_INSERT, (*entry_params, Jsonb(entry["payload"])))
            if before_commit is not None:
                before_commit()
        _note(self._POST_INSERT, post_params, f"post:{post['id']}")
        payload = json.dumps(entry["payload"], ensure_ascii=False)
        _note(self._OUTBOX_INSERT, (*entry_params, payload), f"post:{post['id']}")

    def outbox_post_count(self, post_id: str | None = None) -> int:
        """Committed outbox-path posts (``user_posts`` rows), or whether ``post_id`` is one (0/1)."""
        if post_id is None:
            return _one(self.conn.execute("SELECT count(*) FROM user_posts"))[0]
        return _one(self.conn.execute("SELECT count(*) FROM user_posts WHERE id = %s", (post_id,)))[0]

    def outbox_post_ids(self, id_like: str) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT id FROM user_posts WHERE id LIKE %s", (id_like,)).fetchall()}

    def delete_outbox_posts(self, post_ids: Sequence[str]) -> int:
        """The business rows only: their outbox rows stay, like their events on the topic (history)."""
        return self.conn.execute("DELETE FROM user_posts WHERE id = ANY(%s)", (list(post_ids),)).rowcount

    # ------------------------------------------------------------ clearing
    def clear(self) -> None:
        self.conn.execute("TRUNCATE follows, user_posts, outbox, users")

    # ------------------------------------------------------------ the replication slot
    def slot(self, peek: bool = True) -> SlotInfo:
        return slot_info(self.conn, self.settings.slot_name, self.settings.publication, peek=peek)

    def slot_if_up(self) -> SlotInfo | None:
        """:meth:`slot`, or None when Postgres does not answer (``status`` shows the row without it)."""
        try:
            return self.slot()
        except psycopg.OperationalError:
            return None

    def slot_active(self) -> bool | None:
        """None: no slot; else whether a connection (Connect) holds it."""
        row = self.conn.execute(
            "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (self.settings.slot_name,)
        ).fetchone()
        return None if row is None else bool(row[0])

    def drop_slot(self) -> None:
        self.conn.execute("SELECT pg_drop_replication_slot(%s)", (self.settings.slot_name,))


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
        " AND setting <> '-1') FROM pg_replication_slots WHERE slot_name = %s",
        (slot_name,),
    ).fetchone()
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
                "'publication_names', %s) LIMIT 1",
                (temp, publication),
            ).fetchone()
            if first is not None:
                age = _one(
                    conn.execute(
                        "SELECT extract(epoch FROM now() - pg_xact_commit_timestamp(%s::text::xid))", (str(first[0]),)
                    )
                )[0]
                info.oldest_unsent_age_s = float(age) if age is not None else None
        finally:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (temp,))
    except psycopg.Error as exc:
        info.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160]}"
    return info
