"""Redis: the profile projection. Everything polydemo knows about Redis is here.

What it is: a **projection**, not a read-through cache. The cache projector keeps it complete and
exact from CDC: every user in Postgres has a profile hash here, nothing expires (no TTL) and
nothing is evicted (the server runs with ``maxmemory-policy noeviction``: a full Redis refuses the
write, the projector retries and says why, and nothing disappears silently). So "Redis has N
profiles" can be compared with "Postgres has N users" at any time, an hour or a week after the
seed, and a difference is real staleness, bounded by the pipeline's lag.

Key layout:

* ``user:<id>``              hash: id, email, name, updated_at, source_ts_ms, and bio when the row has one
* ``user:email:<email>``     string: the id (look-up by email)
* ``followers:<id>``         set of follower ids (SADD/SREM are idempotent: a replay never counts twice)
* ``following:<id>``         set of followee ids
* ``polydemo:profiles``      set of every id with a profile: SCARD is the profile count, exact and O(1)
* ``polydemo:last_applied_ts_ms``  the source commit time of the last change applied
* ``polydemo:lsn:<entity>:<key>``  string: the source LSN of the newest change applied for that user or follow
  (deletes too): a change older than it is skipped, so a re-delivery after a rebalance never overwrites a newer one

The optional "who to follow" read model (the ``wtf`` projector, its own consumer group), all under ``wtf:``:

* ``wtf:out:<id>`` / ``wtf:in:<id>``  sets: the follow edges as that projector has seen them (its own
  copy, so it can be replayed from the start of the topics without touching the profile projection)
* ``wtf:<id>``                       ZSET: candidate -> number of mutual paths (id -> m -> candidate),
  without the user and those the user already follows; recomputed whole for every affected user
* ``wtf:index``                      set of the ids that have a non-empty ``wtf:<id>``
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Any

import redis

from polydemo.config import Settings
from polydemo.stores import Gateway, Health, statements

SERVICE = "redis"
LAST_APPLIED_KEY = "polydemo:last_applied_ts_ms"
PROFILES_INDEX = "polydemo:profiles"

log = logging.getLogger(__name__)


def connect(settings: Settings, timeout: float | None = None) -> redis.Redis:
    if timeout is not None:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries (redis-py retries a refused connection for seconds): the caller's next poll is the retry.
        return redis.Redis(
            host=settings.host,
            port=settings.ports[SERVICE],
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
        )
    from redis.backoff import ConstantBackoff
    from redis.retry import Retry

    # One retry, 0.1 s later, instead of redis-py's default three with a growing backoff: against a frozen
    # (SIGSTOPped) Redis, a read then took 58.8 s to fail; now at most ~6 s. Callers that loop retry themselves.
    return redis.Redis(
        host=settings.host,
        port=settings.ports[SERVICE],
        socket_connect_timeout=2,
        socket_timeout=3,
        decode_responses=True,
        retry=Retry(ConstantBackoff(0.1), 1),
    )


def health(settings: Settings) -> Health:
    try:
        client = connect(settings)
        try:
            client.ping()
            version = client.info("server").get("redis_version")
        finally:
            client.close()
        return Health(True, "PING ok", f"Redis {version}")
    except Exception as exc:  # noqa: BLE001 - health never raises: a down store is an answer
        return Health.down(exc)


# The columns a users row may carry and what each projector makes of a missing one. Any other field
# (a column added later that no projector knows yet) is ignored; a missing one takes its default. The
# bio is read from ``about`` (after the schema-change story's rename) or ``bio`` (before it).
USER_DEFAULTS: dict[str, Any] = {"email": "", "name": "", "updated_at": "", "bio": None}
BIO_SOURCES = ("about", "bio")


def profile_fields(row: dict | None) -> dict[str, Any]:
    """The fields the profile reads from a users row: known ones or their defaults; unknown ones dropped."""
    row = row or {}
    out = {k: (row.get(k) if row.get(k) is not None else d) for k, d in USER_DEFAULTS.items()}
    out["bio"] = next((row[c] for c in BIO_SOURCES if row.get(c) is not None), None)
    return out


def profile_key(user_id: str) -> str:
    return f"user:{user_id}"


def email_key(email: str) -> str:
    return f"user:email:{email}"


def followers_key(user_id: str) -> str:
    return f"followers:{user_id}"


def following_key(user_id: str) -> str:
    return f"following:{user_id}"


WTF_INDEX = "wtf:index"


AUDIENCE_KEY = "audience:current"
HIDDEN_POSTS_KEY = "audience:hidden"


def session_key(token_hash: str) -> str:
    return f"session:{token_hash}"


def wtf_key(user_id: str) -> str:
    return f"wtf:{user_id}"


def wtf_out_key(user_id: str) -> str:
    return f"wtf:out:{user_id}"


def wtf_in_key(user_id: str) -> str:
    return f"wtf:in:{user_id}"


# ------------------------------------------------------------ the ordering guard: the pure part

VERSION_PREFIX = "polydemo:lsn:"


def version_key(change) -> str | None:
    """Where the newest applied source LSN of a user's or a follow's changes is kept; None for a change
    without one (posts, or an event with no LSN), which is always applied."""
    lsn = (change.extra or {}).get("lsn")
    if lsn is None or change.entity not in ("user", "follow"):
        return None
    return f"{VERSION_PREFIX}{change.entity}:" + ":".join(str(v) for v in change.key.values())


def newest_only(changes: list, stored: Mapping[str, int]) -> list[bool]:
    """Which of ``changes`` (in their order) to apply: each whose source LSN is not older than the newest one
    already applied for its key (``stored``, then the earlier changes of the batch). Equal is applied again
    (a replay is idempotent); older is skipped: with several projector instances a partition can be
    re-delivered after a rebalance, and an older change must never land over a newer one."""
    seen = dict(stored)
    keep = []
    for c in changes:
        key = version_key(c)
        if key is None:
            keep.append(True)
            continue
        lsn = int(c.extra["lsn"])
        if key in seen and lsn < seen[key]:
            keep.append(False)
            continue
        seen[key] = lsn
        keep.append(True)
    return keep


# ------------------------------------------------------------ who to follow: the pure part


def edge_ops(changes: Iterable) -> list[tuple[bool, str, str]]:
    """The follow edges a batch of ``Change``s adds (True) or removes (False), in order: (add, follower, followee).
    User changes are not edges (a deleted user's follows arrive as their own cascaded deletes)."""
    return [
        (c.op != "delete", str(c.key["follower_id"]), str(c.key["followee_id"]))
        for c in changes
        if c.entity == "follow" and c.op in ("create", "delete")
    ]


def affected_users(ops: Iterable[tuple[bool, str, str]], followers: Mapping[str, Set[str]]) -> set[str]:
    """Whose suggestions an edge a -> b can change: a itself (its paths a -> b -> c, and b is no longer or now
    a followee) and every follower of a (their paths u -> a -> b). ``followers`` is after the batch; a
    follower that left in the same batch is in its own op's set."""
    out: set[str] = set()
    for _add, a, _b in ops:
        out.add(a)
        out |= set(followers.get(a, ()))
    return out


def friends_of_friends(user: str, following: Mapping[str, Set[str]]) -> dict[str, int]:
    """Candidate -> number of distinct paths user -> m -> candidate, leaving out the user and whom the
    user already follows. A pure function of the edge sets, so replaying changes cannot skew it."""
    mine = set(following.get(user, ()))
    scores: dict[str, int] = {}
    for m in mine:
        for c in following.get(m, ()):
            if c != user and c not in mine:
                scores[c] = scores.get(c, 0) + 1
    return scores


@dataclass
class Profile:
    id: str
    name: str | None
    email: str | None
    ttl: int | None = None  # seconds left; None: not in Redis; -1: no expiry (what a projection has)


class Cache(Gateway[Any]):
    """The Redis gateway: one connection, the key layout, the projector's writes and every read.

    Its client is a ``redis.Redis`` with ``decode_responses=True``: every answer is ``str`` (the
    library's stubs say ``bytes | str``, hence ``Any``)."""

    service = SERVICE

    def _connect(self) -> redis.Redis:
        return connect(self.settings, timeout=self._timeout)

    def label(self) -> str:
        return f"Redis {self.client.info('server').get('redis_version', '?')}"

    # ------------------------------------------------------------ schema
    def ensure_schema(self) -> int:
        """Make the projection's invariants hold; returns how many keys it had to repair.

        A stack made by polydemo 0.1 has profiles with a 1 h TTL and no index set: index them and
        drop their expiry, so an upgraded stack is complete too. On a current stack this is one
        EXISTS (plus one SCAN pass when the projection is empty, which is cheap by definition).
        """
        r = self.client
        if r.exists(PROFILES_INDEX):
            return 0
        repaired = 0
        pipe = r.pipeline(transaction=False)
        for key in r.scan_iter("user:*", count=1000):
            if key.startswith("user:email:"):
                pipe.persist(key)
                continue
            pipe.sadd(PROFILES_INDEX, key.split(":", 1)[1])
            pipe.persist(key)
            repaired += 1
        pipe.execute()
        if repaired:
            log.info("indexed %d profile(s) and removed their expiry (a stack made by polydemo 0.1)", repaired)
        return repaired

    # ------------------------------------------------------------ writes (the cache projector)
    def apply(self, changes: Iterable) -> None:
        """Apply a batch of ``pipeline.events.Change``s atomically (MULTI/EXEC); every write is idempotent."""
        changes = list(changes)
        r = self.client
        # Emails of users about to be deleted (a delete event carries only the key).
        deleted = [c.key["id"] for c in changes if c.entity == "user" and c.op == "delete"]
        emails = {uid: r.hget(profile_key(uid), "email") for uid in deleted}
        pipe = r.pipeline(transaction=True)
        versions = sorted({k for c in changes if (k := version_key(c)) is not None})
        keep = [True] * len(changes)
        if versions:  # optimistic: another instance writing these keys meanwhile aborts EXEC; the batch is retried
            pipe.watch(*versions)
            stored = {k: int(v) for k, v in zip(versions, pipe.mget(versions), strict=True) if v is not None}
            keep = newest_only(changes, stored)
            pipe.multi()
        show = statements.active()  # --show-commands: each command as it is queued, filed under its change

        def cmd(change, *args) -> None:
            pipe.execute_command(*args)
            if show:
                statements.note(SERVICE, statements.redis(*args), statements.change_key(change))

        for c, fresh in zip(changes, keep, strict=True):
            if not fresh:
                continue  # older than what this key already has
            if (vkey := version_key(c)) is not None:
                pipe.set(vkey, int(c.extra["lsn"]))
            if c.entity == "user" and c.op in ("create", "update"):
                a = profile_fields(c.after)  # tolerant: unknown columns ignored, missing ones defaulted
                uid = c.key["id"]
                fields = {
                    "id": uid,
                    "email": a["email"],
                    "name": a["name"],
                    "updated_at": str(a["updated_at"]),
                    "source_ts_ms": c.ts_ms,
                }
                if a["bio"] is not None:
                    fields["bio"] = a["bio"]
                cmd(c, "HSET", profile_key(uid), *(x for kv in fields.items() for x in kv))
                if a["bio"] is None:
                    cmd(c, "HDEL", profile_key(uid), "bio")  # the profile is overwritten: no stale bio
                cmd(c, "SADD", PROFILES_INDEX, uid)
                if a.get("email"):
                    cmd(c, "SET", email_key(a["email"]), uid)
            elif c.entity == "user" and c.op == "delete":
                uid = c.key["id"]
                cmd(c, "DEL", profile_key(uid), followers_key(uid), following_key(uid))
                cmd(c, "SREM", PROFILES_INDEX, uid)
                if emails.get(uid):
                    cmd(c, "DEL", email_key(emails[uid]))
            elif c.entity == "follow" and c.op == "create":
                cmd(c, "SADD", followers_key(c.key["followee_id"]), c.key["follower_id"])
                cmd(c, "SADD", following_key(c.key["follower_id"]), c.key["followee_id"])
            elif c.entity == "follow" and c.op == "delete":
                cmd(c, "SREM", followers_key(c.key["followee_id"]), c.key["follower_id"])
                cmd(c, "SREM", following_key(c.key["follower_id"]), c.key["followee_id"])
            pipe.set(LAST_APPLIED_KEY, c.ts_ms)
        pipe.execute()

    def clear(self) -> None:
        self.client.flushdb()

    # ------------------------------------------------------------ who to follow (the wtf projector)
    def apply_who_to_follow(self, changes: Iterable) -> int:
        """Apply the follow edges of a batch (SADD/SREM: idempotent), then recompute ``wtf:<id>`` whole for
        every affected user. A crash between the two leaves the edges applied and the offsets uncommitted:
        the replay recomputes the same sets. Returns how many users were recomputed."""
        ops = edge_ops(changes)
        if not ops:
            return 0
        r = self.client
        pipe = r.pipeline(transaction=True)
        for add, a, b in ops:
            if add:
                pipe.sadd(wtf_out_key(a), b)
                pipe.sadd(wtf_in_key(b), a)
            else:
                pipe.srem(wtf_out_key(a), b)
                pipe.srem(wtf_in_key(b), a)
        pipe.execute()
        sources = sorted({a for _, a, _ in ops})
        pipe = r.pipeline(transaction=False)
        for a in sources:
            pipe.smembers(wtf_in_key(a))
        followers = dict(zip(sources, (set(x) for x in pipe.execute()), strict=True))
        users = sorted(affected_users(ops, followers))
        following = self._following(users)
        following = {**following, **self._following(sorted({m for u in users for m in following[u]} - set(users)))}
        pipe = r.pipeline(transaction=True)
        for u in users:
            scores = friends_of_friends(u, following)
            pipe.delete(wtf_key(u))
            if scores:
                pipe.zadd(wtf_key(u), scores)
                pipe.sadd(WTF_INDEX, u)
            else:
                pipe.srem(WTF_INDEX, u)
        pipe.execute()
        return len(users)

    def _following(self, users: list[str]) -> dict[str, set[str]]:
        if not users:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for u in users:
            pipe.smembers(wtf_out_key(u))
        return dict(zip(users, (set(x) for x in pipe.execute()), strict=True))

    def who_to_follow(self, user_id: str | None = None) -> dict[str, dict[str, int]]:
        """The read model as it is now: user -> {candidate: mutual paths} (one user, or every user in the index)."""
        r = self.client
        users = [user_id] if user_id else sorted(r.smembers(WTF_INDEX))
        pipe = r.pipeline(transaction=False)
        for u in users:
            pipe.zrange(wtf_key(u), 0, -1, withscores=True)
        out = {}
        for u, pairs in zip(users, pipe.execute(), strict=True):
            if pairs:
                out[u] = {c: int(s) for c, s in pairs}
        return out

    def clear_who_to_follow(self) -> int:
        """Delete every ``wtf:*`` key (``projector remove wtf``, ``reset``); returns how many."""
        r = self.client
        n = 0
        batch: list[str] = []
        for key in r.scan_iter("wtf:*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                n += int(r.delete(*batch))
                batch = []
        if batch:
            n += int(r.delete(*batch))
        return n

    # ------------------------------------------------------------ web sessions (the gateway's sign-ins)
    def session_put(self, token_hash: str, fields: Mapping[str, str], ttl_s: int) -> None:
        """Keep a session (``session:<sha256 of the token>``, never the token itself) for ``ttl_s`` seconds."""
        key = session_key(token_hash)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping=dict(fields))
        pipe.expire(key, ttl_s)
        pipe.execute()

    def session_get(self, token_hash: str) -> tuple[dict[str, str], int] | None:
        """The session's fields and its seconds left; None when it does not exist or expired."""
        key = session_key(token_hash)
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(key)
        pipe.ttl(key)
        data, ttl = pipe.execute()
        return (data, int(ttl)) if data else None

    def session_update(self, token_hash: str, fields: Mapping[str, str]) -> bool:
        """Update fields of a live session (its TTL unchanged); False when it is gone."""
        key = session_key(token_hash)
        if not self.client.exists(key):
            return False
        self.client.hset(key, mapping=dict(fields))
        return True

    def session_delete(self, token_hash: str) -> bool:
        return bool(self.client.delete(session_key(token_hash)))

    def session_count(self) -> int:
        return sum(1 for _ in self.client.scan_iter(session_key("*"), count=1000))

    # ------------------------------------------------------------ the audience (web gateway's audience mode)
    def audience_open(self, fields: Mapping[str, str]) -> None:
        """The audience session now (code, epoch, started, max, url); replaces any earlier one."""
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(AUDIENCE_KEY)
        pipe.hset(AUDIENCE_KEY, mapping=dict(fields))
        pipe.execute()

    def audience_current(self) -> dict[str, str] | None:
        return self.client.hgetall(AUDIENCE_KEY) or None

    def audience_close(self, epoch: str) -> bool:
        """End the audience session ``epoch`` (its code and tokens); its members stay users of the system."""
        if self.client.hget(AUDIENCE_KEY, "epoch") != epoch:
            return False
        self.client.delete(AUDIENCE_KEY)
        return True

    def audience_add(self, epoch: str, user_id: str, name: str, at_ms: float) -> int:
        """Count a new audience member; returns how many there are now."""
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(f"audience:{epoch}:users", {user_id: at_ms})
        pipe.hset(f"audience:{epoch}:names", user_id, name)
        pipe.zcard(f"audience:{epoch}:users")
        return int(pipe.execute()[-1])

    def audience_remove(self, epoch: str, user_id: str) -> None:
        self.client.zrem(f"audience:{epoch}:users", user_id)
        self.client.hdel(f"audience:{epoch}:names", user_id)

    def audience_count(self, epoch: str) -> int:
        return int(self.client.zcard(f"audience:{epoch}:users"))

    def audience_newest(self, epoch: str, n: int) -> list[tuple[str, str]]:
        """The last ``n`` to join, newest first: (id, name)."""
        ids = list(self.client.zrevrange(f"audience:{epoch}:users", 0, n - 1))
        names = self.client.hmget(f"audience:{epoch}:names", ids) if ids else []
        return [(i, nm or "") for i, nm in zip(ids, names, strict=True)]

    def audience_signups(self) -> int:
        """How many joined the audience session open now (0: none is open)."""
        epoch = self.client.hget(AUDIENCE_KEY, "epoch")
        return self.audience_count(epoch) if epoch else 0

    def audience_wrote(self, epoch: str) -> int:
        return int(self.client.incr(f"audience:{epoch}:writes"))

    def audience_writes(self, epoch: str) -> int:
        return int(self.client.get(f"audience:{epoch}:writes") or 0)

    def hide_post(self, post_id: str) -> bool:
        return bool(self.client.sadd(HIDDEN_POSTS_KEY, post_id))

    def hidden_posts(self) -> set[str]:
        return set(self.client.smembers(HIDDEN_POSTS_KEY))

    # ------------------------------------------------------------ reads
    def profile_count(self) -> int:
        """Profiles in the projection: exact (SCARD of the index), the one definition everyone uses."""
        return int(self.client.scard(PROFILES_INDEX))

    def user_id(self, email: str) -> str | None:
        return self.client.get(email_key(email.strip().lower()))

    def profile(self, user_id: str) -> dict[str, str] | None:
        data = self.client.hgetall(profile_key(user_id))
        return data or None

    def bio_by_email(self, email: str) -> str | None:
        uid = self.user_id(email)
        return self.client.hget(profile_key(uid), "bio") if uid else None

    def name_by_email(self, email: str) -> str | None:
        uid = self.user_id(email)
        return self.client.hget(profile_key(uid), "name") if uid else None

    def follower_count(self, user_id: str) -> int:
        return int(self.client.scard(followers_key(user_id)))

    def profiles(self, ids: list[str]) -> list[Profile]:
        """The profiles of these users as Redis holds them now (one round trip)."""
        if not ids:
            return []
        pipe = self.client.pipeline(transaction=False)
        for uid in ids:
            pipe.hmget(profile_key(uid), "name", "email")
            pipe.ttl(profile_key(uid))
        answers = pipe.execute()
        out = []
        for i, uid in enumerate(ids):
            (name, email), ttl = answers[2 * i], answers[2 * i + 1]
            present = ttl is not None and ttl != -2
            out.append(Profile(uid, name, email, int(ttl) if present else None))
        return out

    def some_ids(self, n: int) -> list[str]:
        """Up to ``n`` ids with a profile (any ``n``, for a sample when Postgres cannot say which are newest)."""
        return list(self.client.srandmember(PROFILES_INDEX, n) or [])

    def keyspace(self) -> tuple[int, int, int, int, int]:
        """(keys in the database, keyspace hits, keyspace misses, used memory, maxmemory; 0: no limit) from
        INFO. The memory matters because the server runs with ``noeviction``: at its maxmemory it refuses the
        cache projector's writes (a stack that took ~380,000 sign-ups fills the 256 MB)."""
        r = self.client
        pipe = r.pipeline(transaction=False)
        pipe.info("keyspace")
        pipe.info("stats")
        pipe.info("memory")
        keyspace, stats, memory = pipe.execute()
        db = f"db{r.connection_pool.connection_kwargs.get('db', 0)}"
        keys = int((keyspace.get(db) or {}).get("keys", 0))
        return (
            keys,
            int(stats.get("keyspace_hits", 0)),
            int(stats.get("keyspace_misses", 0)),
            int(memory.get("used_memory", 0)),
            int(memory.get("maxmemory", 0)),
        )

    def expiring_keys(self, limit: int = 10) -> list[str]:
        """The projection's keys that carry an expiry (it should have none); other keys are not ours."""
        out = []
        for pattern in ("user:*", "followers:*", "following:*", "polydemo:*"):
            for key in self.client.scan_iter(pattern, count=1000):
                if self.client.ttl(key) >= 0:
                    out.append(key)
                    if len(out) >= limit:
                        return out
        return out
