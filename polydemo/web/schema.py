"""The GraphQL schema (strawberry): every field calls one use case of :class:`polydemo.app.Demo` on the pool.

Errors are GraphQL errors with ``extensions.code`` (:func:`error_code`) and ``extensions.hint``: the same
one-line messages as the CLI. Anything unexpected is masked ("Unexpected error.") and logged, so no store's
internals (or a password) reach an answer. ``schema.as_str()`` is the published SDL (``GET /graphql/schema``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from enum import Enum
from typing import Any, TypeVar

import strawberry
from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.scalars import JSON
from strawberry.types import Info

from polydemo.errors import (
    AlreadyExists,
    AudienceClosed,
    Forbidden,
    NotFound,
    PolydemoError,
    RateLimited,
    StoreTimeout,
    StoreUnreachable,
    Unauthenticated,
)
from polydemo.reads import PROJECTOR_OF  # the projection each eventual store is fed by
from polydemo.web import audience as audience_lib
from polydemo.web.sessions import AUDIENCE, PRESENTER, Session, bearer, token_hash
from polydemo.web.state import WebState

log = logging.getLogger(__name__)
T = TypeVar("T")

RYW_WAIT_S = 3.0  # how long a read-your-writes read waits for the projection, at most


def error_code(exc: PolydemoError) -> str:
    if isinstance(exc, AudienceClosed):
        return "AUDIENCE_CLOSED"
    if isinstance(exc, Forbidden):
        return "FORBIDDEN"
    if isinstance(exc, RateLimited):
        return "RATE_LIMITED"
    if isinstance(exc, Unauthenticated):
        return "UNAUTHENTICATED"
    if isinstance(exc, AlreadyExists):
        return "ALREADY_EXISTS"
    if isinstance(exc, NotFound):
        return "NOT_FOUND"
    if isinstance(exc, StoreTimeout | StoreUnreachable):
        return "UNAVAILABLE"
    return "BAD_INPUT"


def to_graphql(exc: PolydemoError) -> GraphQLError:
    extensions: dict[str, Any] = {"code": error_code(exc), "hint": exc.hint}
    if isinstance(exc, RateLimited):
        extensions["retryAfterMs"] = max(1, round(exc.retry_after_s * 1000))
    return GraphQLError(str(exc.message), extensions=extensions)


def listener(info: Info) -> str:
    """``audience`` when the request came in on the audience's listener, else ``presenter`` (127.0.0.1)."""
    return info.context.get("listener", PRESENTER)


def limit_(info: Info, token: str | None, limiter: str = "writes") -> None:
    """The audience listener's rate limits, checked on the event loop before anything else (a flood is cheap)."""
    if listener(info) != AUDIENCE:
        return
    st = state_of(info)
    bucket = {"joins": st.join_limiter, "reads": st.read_limiter}.get(limiter, st.limiter)
    wait = bucket.check(token_hash(token) if token else None)
    if wait:
        raise to_graphql(
            RateLimited("too many requests: slow down", wait, hint=f"try again in {max(1, round(wait * 1000))} ms")
        )


def state_of(info: Info) -> WebState:
    return info.context["state"]


async def call(info: Info, fn: Callable[..., T], *args: Any) -> T:
    try:
        return await state_of(info).run(fn, *args)
    except PolydemoError as exc:
        raise to_graphql(exc) from None


def _token(info: Info) -> str | None:
    request = info.context["request"]
    try:
        return bearer(request.headers.get("authorization"))
    except Unauthenticated as exc:
        raise to_graphql(exc) from None


# ---------------------------------------------------------------- types


@strawberry.type
class User:
    id: str
    email: str
    name: str | None

    @classmethod
    def of(cls, row: Any) -> User:
        return cls(id=str(row.id), email=row.email, name=row.name)


@strawberry.type
class SessionResult:
    token: str
    expires_in: int
    user: User


@strawberry.type
class Member:
    """Someone in the room, as the audience sees them: no email."""

    id: str
    name: str | None


@strawberry.type
class JoinResult:
    token: str
    expires_in: int
    user: Member


@strawberry.type
class PostItem:
    id: str
    title: str
    likes: int
    author: str | None


@strawberry.type
class FollowResult:
    follower: str
    followee: str
    changed: bool


@strawberry.enum
class PostMode(Enum):
    RELAY = "relay"
    DUAL_WRITE = "dual-write"
    OUTBOX = "outbox"


@strawberry.type
class PostResult:
    id: str | None
    title: str
    mode: str
    author: str


@strawberry.type
class LikeResult:
    id: str
    likes: int


@strawberry.enum
class Consistency(Enum):
    STRONG = "strong"
    EVENTUAL = "eventual"
    READ_YOUR_WRITES = "read-your-writes"


@strawberry.type
class Read:
    store: str
    consistency: Consistency
    found: bool
    name: str | None
    followers: int | None
    verdict: str
    lag_messages: int | None
    lag_ms: float | None
    waited_ms: float | None
    caught_up: bool | None
    read_ms: float


@strawberry.type
class Service:
    name: str
    ok: bool
    label: str
    error: str | None


@strawberry.type
class Health:
    ok: bool
    runtime: str
    clients: int
    services: list[Service]


@strawberry.enum
class ProjectorAction(Enum):
    START = "start"
    STOP = "stop"
    KILL = "kill"


@strawberry.enum
class ConnectorAction(Enum):
    PAUSE = "pause"
    RESUME = "resume"


# ---------------------------------------------------------------- the use cases, on a pool thread


def _session(st: WebState, token: str | None) -> Session:
    session = st.sessions().find(token)
    if session.role == AUDIENCE and (st.epoch is None or session.epoch != st.epoch):
        raise AudienceClosed("this audience session has ended", hint="ask the speaker for the new join code")
    return session


def _presenter(st: WebState, token: str | None) -> Session:
    session = _session(st, token)
    if session.role != PRESENTER:
        raise Forbidden("that is the presenter's to do", hint="the audience can join, follow, post and like")
    return session


def _audience_wrote(st: WebState, session: Session) -> None:
    if session.role == AUDIENCE and session.epoch:
        st.demo().stores.cache.audience_wrote(session.epoch)


def _mark_before_write(st: WebState, session: Session) -> None:
    """Keep the WAL position before this write: a read-your-writes read waits for a change at or after it."""
    st.sessions().mark(session, st.demo().stores.users.wal_insert_lsn())


def lag_ms(st: WebState, projector: str) -> float | None:
    snap = st.hub.snapshot or {}
    for g in (snap.get("kafka") or {}).get("groups") or []:
        if g.get("projector") == projector and g.get("lag_s") is not None:
            return round(float(g["lag_s"]) * 1000, 1)
    return None


def applied(ring: list[dict] | None, user_id: str, mark: int) -> bool:
    """Has a projector applied a change of ``user_id`` made at or after WAL position ``mark`` (pure)?"""
    for rec in ring or ():
        lsn = rec.get("lsn")
        if lsn is None or int(lsn) < mark:
            continue
        if user_id in {str(v) for v in (rec.get("key") or {}).values()}:
            return True
    return False


def _read(st: WebState, token: str | None, who: str, consistency: Consistency) -> list[Read]:
    """STRONG: Postgres. EVENTUAL: the projections now. READ_YOUR_WRITES: each projection once it has this session's
    last write: its projector recorded a change of this user at or after the session's mark (its ``recent`` ring,
    written every half second), or the projection already agrees with Postgres (what the reader wants to see) —
    whichever is known first, within RYW_WAIT_S; the answer says how long it waited and whether it caught up."""
    from polydemo.pipeline.trace import read_recent

    demo = st.demo()
    stores = ["postgres"] if consistency is Consistency.STRONG else ["redis", "neo4j"]
    results = {r.store: r for r in demo.read_user(who, stores).results}
    waited: dict[str, tuple[float, bool]] = {}
    if consistency is Consistency.READ_YOUR_WRITES:
        session = _session(st, token)
        t0 = time.monotonic()
        for store in stores:
            ok = session.mark is None or results[store].verdict == "in sync"
            while not ok and time.monotonic() - t0 < RYW_WAIT_S:
                time.sleep(0.02)
                ok = applied(read_recent(st.settings, PROJECTOR_OF[store]), session.user_id, session.mark or 0)
                results[store] = demo.read_user(who, [store]).results[0]
                ok = ok or results[store].verdict == "in sync"
            waited[store] = ((time.monotonic() - t0) * 1000, ok)
    out = []
    for r in results.values():
        w = waited.get(r.store)
        out.append(
            Read(
                store=r.store,
                consistency=consistency,
                found=r.found,
                name=r.name,
                followers=r.followers,
                verdict=r.verdict,
                lag_messages=r.lag_messages,
                lag_ms=0.0 if r.store == "postgres" else lag_ms(st, PROJECTOR_OF[r.store]),
                waited_ms=round(w[0], 1) if w else None,
                caught_up=w[1] if w else None,
                read_ms=round(r.read_ms, 2),
            )
        )
    return out


def _sign_up(st: WebState, email: str, name: str, password: str) -> SessionResult:
    demo = st.demo()
    mark = demo.stores.users.wal_insert_lsn()
    row = demo.signup(email, name, password)
    st.hub.remember(str(row.id), row.name)
    sessions = st.sessions()
    session = sessions.create(str(row.id), row.email, row.name)
    sessions.mark(session, mark)
    return SessionResult(token=session.token, expires_in=session.ttl_s, user=User.of(row))


def _sign_in(st: WebState, email: str, password: str) -> SessionResult:
    from polydemo.domain import users

    row = users.sign_in(st.settings, email, password, st.demo().stores.users)
    session = st.sessions().create(str(row.id), row.email, row.name)
    return SessionResult(token=session.token, expires_in=session.ttl_s, user=User.of(row))


def _sign_out(st: WebState, token: str | None) -> bool:
    session = _session(st, token)
    return st.sessions().end(session.token)


def _me(st: WebState, token: str | None) -> User:
    session = _session(st, token)
    from polydemo.domain import users

    return User.of(users.require_user(st.settings, session.user_id, st.demo().stores.users))


def _follow(st: WebState, token: str | None, followee: str, on: bool) -> FollowResult:
    session = _session(st, token)
    _mark_before_write(st, session)
    demo = st.demo()
    edge = demo.follow(session.user_id, followee) if on else demo.unfollow(session.user_id, followee)
    _audience_wrote(st, session)
    if session.role == AUDIENCE:  # no emails for the audience: ids
        return FollowResult(follower=str(edge.follower.id), followee=str(edge.followee.id), changed=edge.changed)
    return FollowResult(follower=edge.follower.email, followee=edge.followee.email, changed=edge.changed)


def _post(st: WebState, token: str | None, title: str, body: str, mode: PostMode) -> PostResult:
    session = _session(st, token)
    if session.role == AUDIENCE and mode is not PostMode.RELAY:
        raise Forbidden("the dual write and the outbox are the presenter's", hint="post without a mode")
    if mode is PostMode.OUTBOX:
        _mark_before_write(st, session)
    posted = st.demo().post(session.user_id, title, body, mode=mode.value)
    if posted.post_id:
        st.sessions().posted(session, str(posted.post_id))
    _audience_wrote(st, session)
    author = session.name if session.role == AUDIENCE else session.email
    return PostResult(
        id=str(posted.post_id) if posted.post_id else None, title=posted.title, mode=mode.name, author=author
    )


def _like(st: WebState, token: str | None, post_id: str) -> LikeResult:
    session = _session(st, token)
    liked = st.demo().like(post_id)
    _audience_wrote(st, session)
    return LikeResult(id=str(liked.post_id), likes=liked.likes)


def _delete_me(st: WebState, token: str | None) -> User:
    session = _presenter(st, token)
    _mark_before_write(st, session)
    row = st.demo().delete_user(session.user_id)
    st.sessions().end(session.token)
    return User.of(row)


def _projector(st: WebState, token: str | None, name: str, action: ProjectorAction) -> str:
    _presenter(st, token)
    return st.demo().projector(name, action.value)


def _connector(st: WebState, token: str | None, action: ConnectorAction) -> str:
    _presenter(st, token)
    return st.demo().connector(action.value)


def _users(st: WebState, limit: int) -> list[User]:
    if not 1 <= limit <= 100:
        raise PolydemoError(f"limit {limit} is out of range", hint="ask for 1 to 100 users")
    return [User.of(u) for u in st.demo().stores.users.latest(limit)]


def _health(st: WebState) -> Health:
    snap = st.hub.snapshot or {}
    services = [
        Service(name=s["name"], ok=bool(s["ok"]), label=s.get("label") or "", error=s.get("error"))
        for s in snap.get("services") or []
    ]
    return Health(
        ok=bool(services) and all(s.ok for s in services),
        runtime=str(snap.get("runtime") or st.demo().runtime_name),
        clients=st.hub.clients,
        services=services,
    )


class WebPresenter:
    """A scenario's narration and checks, as ``caption`` messages on the live feed."""

    def __init__(self, st: WebState, name: str):
        self.st, self.name, self.of, self.index = st, name, 0, 0

    def _say(self, text: str, ok: bool | None = None) -> None:
        self.st.hub.publish(
            "caption", {"scenario": self.name, "step": self.index + 1, "of": self.of, "text": text, "ok": ok}
        )

    def begin(self, loaded: Any) -> None:
        self.of = len(loaded.scenario.steps)
        self._say(f"{loaded.scenario.title or self.name}: {self.of} steps")

    def step_started(self, index: int, step: Any, line: int) -> None:
        self.index = index

    def step_done(self, result: Any) -> None:
        if result.kind in ("check", "expect") or not result.ok:
            self._say(result.message, result.ok)

    def caption(self, text: str) -> None:
        self._say(text)

    def prompt(self, text: str) -> None:
        self._say(text)

    def end(self, result: Any) -> None:
        verdict = "passed" if result.passed else "failed"
        self._say(f"{self.name} {verdict}: {len(result.steps)} steps in {result.seconds:.1f}s", result.passed)


def _run_scenario(st: WebState, token: str | None, name: str) -> str:
    _presenter(st, token)
    from polydemo.scenario import loader

    loaded = loader.load(name)  # a bad name is a BAD_INPUT error now, before anything runs
    if st.scenario is not None:
        raise PolydemoError(
            f"scenario {st.scenario['name']} is still running", hint="wait for it to end, then start another"
        )
    st.scenario = {"name": name, "started": time.time()}

    def play() -> None:
        try:
            st.demo().with_stores(_fresh_stores(st)).run_scenario(loaded, presenter=WebPresenter(st, name))  # type: ignore[arg-type]
        # broad: a scenario's failure is narrated by its presenter; anything else is logged, and the next
        # scenario may start
        except Exception:
            log.exception("scenario %s ended with an error", name)
        finally:
            st.scenario = None

    threading.Thread(target=play, name=f"scenario-{name}", daemon=True).start()
    return f"scenario {name} started: {len(loaded.scenario.steps)} steps"


def _fresh_stores(st: WebState) -> Any:
    from polydemo.stores import Stores

    return Stores(st.settings)


# ---------------------------------------------------------------- the audience


def open_audience(st: WebState) -> None:
    """Open the audience session (a new code and epoch) when the gateway starts in audience mode."""
    import secrets

    if st.audience is None:
        return
    code = audience_lib.new_code()
    epoch = secrets.token_hex(8)
    url = audience_lib.join_url(st.audience.listen, st.audience.port, code)
    st.demo().stores.cache.audience_open(
        {"code": code, "epoch": epoch, "url": url, "max": str(st.audience.max_users), "started": str(time.time())}
    )
    st.epoch = epoch
    log.info("audience session open: join at %s (code %s, at most %d people)", url, code, st.audience.max_users)


def close_audience(st: WebState) -> bool:
    epoch, st.epoch = st.epoch, None
    return epoch is not None and st.demo().stores.cache.audience_close(epoch)


def audience_info(st: WebState) -> dict[str, Any]:
    """What the big screen shows of the audience (the ``audience`` message)."""
    cache = st.demo().stores.cache
    hidden = sorted(cache.hidden_posts())
    current = cache.audience_current() if st.epoch else None
    if not current or current.get("epoch") != st.epoch:
        return {
            "active": False,
            "code": None,
            "url": None,
            "users": 0,
            "max": 0,
            "writes": 0,
            "newest": [],
            "hidden": hidden,
        }
    epoch = current["epoch"]
    return {
        "active": True,
        "code": current.get("code"),
        "url": current.get("url"),
        "users": cache.audience_count(epoch),
        "max": int(current.get("max") or 0),
        "writes": cache.audience_writes(epoch),
        "newest": [{"id": i, "name": n} for i, n in cache.audience_newest(epoch, 10)],
        "hidden": hidden,
    }


def _join(st: WebState, code: str, name: str) -> JoinResult:
    import secrets

    from polydemo.domain import limits

    if st.audience is None or st.epoch is None:
        raise AudienceClosed("no audience session is open", hint="ask the speaker for the join code")
    demo = st.demo()
    cache = demo.stores.cache
    current = cache.audience_current() or {}
    if current.get("epoch") != st.epoch or not audience_lib.same_code(code, current.get("code")):
        raise AudienceClosed("that join code is not the current one", hint="check the code on the big screen")
    name = limits.check_name(name)
    if cache.audience_count(st.epoch) >= st.audience.max_users:
        raise Forbidden(f"the room is full: {st.audience.max_users} people joined", hint="watch the big screen")
    mark = demo.stores.users.wal_insert_lsn()
    row = demo.signup_guest(f"audience-{secrets.token_hex(6)}@audience.example", name)
    st.hub.remember(str(row.id), row.name)
    cache.audience_add(st.epoch, str(row.id), row.name or "", time.time() * 1000)
    sessions = st.sessions()
    session = sessions.create(str(row.id), row.email, row.name, role=AUDIENCE, epoch=st.epoch)
    sessions.mark(session, mark)
    cache.audience_wrote(st.epoch)
    return JoinResult(token=session.token, expires_in=session.ttl_s, user=Member(id=str(row.id), name=row.name))


def _people(st: WebState, token: str | None, limit_: int) -> list[Member]:
    me = _session(st, token)
    if not 1 <= limit_ <= 50:
        raise PolydemoError(f"limit {limit_} is out of range", hint="ask for 1 to 50")
    return [
        Member(id=str(u.id), name=u.name) for u in st.demo().stores.users.latest(limit_ + 1) if str(u.id) != me.user_id
    ][:limit_]


def _posts(st: WebState, token: str | None, limit_: int) -> list[PostItem]:
    _session(st, token)
    if not 1 <= limit_ <= 50:
        raise PolydemoError(f"limit {limit_} is out of range", hint="ask for 1 to 50")
    stores = st.demo().stores
    hidden = stores.cache.hidden_posts()
    shown = [p for p in stores.posts.latest(limit_ + len(hidden)) if p.id not in hidden][:limit_]
    names = stores.users.names([p.author_id for p in shown if p.author_id])
    return [PostItem(id=p.id, title=p.title, likes=p.likes, author=names.get(p.author_id or "")) for p in shown]


def _my_journey(st: WebState, token: str | None) -> dict:
    session = _session(st, token)
    mine = set(session.posts)
    flows = [
        f
        for f in st.hub.tracker.recent(500)
        if (f["entity"] == "post" and f["key"] in mine)
        or (f["entity"] != "post" and session.user_id in f["key"].split(":"))
    ]
    return {"flows": flows[-10:]}


def _end_audience(st: WebState, token: str | None) -> bool:
    _presenter(st, token)
    return close_audience(st)


def _hide_post(st: WebState, token: str | None, post_id: str) -> bool:
    _presenter(st, token)
    from polydemo.domain import limits

    post_id = limits.check_text("post id", post_id, limits.ID_MAX)
    st.demo().stores.cache.hide_post(post_id)
    st.hub.hide(post_id)
    return True


def _remove_user(st: WebState, token: str | None, user: str) -> User:
    _presenter(st, token)
    demo = st.demo()
    row = demo.delete_user(user)
    if st.epoch:
        demo.stores.cache.audience_remove(st.epoch, str(row.id))
    return User.of(row)


# ---------------------------------------------------------------- the schema


@strawberry.type
class Query:
    @strawberry.field(description="The stack's health, from the gateway's last snapshot.")
    async def health(self, info: Info) -> Health:
        return await call(info, _health, state_of(info))

    @strawberry.field(description="The signed-in user (needs a session).")
    async def me(self, info: Info) -> User:
        token = _token(info)
        limit_(info, token, "reads")
        return await call(info, _me, state_of(info), token)

    @strawberry.field(description="The latest users, from Postgres (the system of record).")
    async def users(self, info: Info, limit: int = 10) -> list[User]:
        return await call(info, _users, state_of(info), limit)

    @strawberry.field(
        description="One user as the stores hold it: STRONG reads Postgres, EVENTUAL the projections (Redis, "
        "Neo4j), READ_YOUR_WRITES the projections once they applied this session's last write (bounded wait)."
    )
    async def user(self, info: Info, id: str, consistency: Consistency = Consistency.STRONG) -> list[Read]:
        return await call(info, _read, state_of(info), _token(info), id, consistency)

    @strawberry.field(description="People to follow: the newest users (ids and names, no emails). Needs a session.")
    async def people(self, info: Info, limit: int = 20) -> list[Member]:
        token = _token(info)
        limit_(info, token, "reads")
        return await call(info, _people, state_of(info), token, limit)

    @strawberry.field(description="The newest posts that are not hidden (to like). Needs a session.")
    async def posts(self, info: Info, limit: int = 20) -> list[PostItem]:
        token = _token(info)
        limit_(info, token, "reads")
        return await call(info, _posts, state_of(info), token, limit)

    @strawberry.field(description="This session's own writes, hop by hop, as JSON: {flows: [...]}.")
    async def my_journey(self, info: Info) -> JSON:
        token = _token(info)
        limit_(info, token, "reads")
        return await call(info, _my_journey, state_of(info), token)  # type: ignore[arg-type]  # JSON: a dict

    @strawberry.field(description="The audience session as the big screen shows it (presenter's listener), as JSON.")
    async def audience(self, info: Info) -> JSON:
        return await call(info, audience_info, state_of(info))  # type: ignore[arg-type]  # JSON: a dict

    @strawberry.field(description="The dashboard's snapshot (the model the terminal draws), as JSON.")
    def snapshot(self, info: Info) -> JSON | None:
        return state_of(info).hub.snapshot  # type: ignore[return-value]  # JSON: any JSON-serialisable value

    @strawberry.field(description="The last changes seen, hop by hop, as JSON.")
    def flows(self, info: Info, last: int = 50) -> JSON:
        return state_of(info).hub.tracker.recent(max(1, min(last, 500)))  # type: ignore[return-value]  # as above


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create a user in Postgres and sign them in.")
    async def sign_up(self, info: Info, email: str, name: str, password: str) -> SessionResult:
        return await call(info, _sign_up, state_of(info), email, name, password)

    @strawberry.mutation(description="Join the audience with the code on the big screen: one new user, no password.")
    async def join(self, info: Info, code: str, name: str) -> JoinResult:
        limit_(info, None, "joins")
        return await call(info, _join, state_of(info), code, name)

    @strawberry.mutation(description="End the audience session: its code and every audience token expire.")
    async def end_audience(self, info: Info) -> bool:
        return await call(info, _end_audience, state_of(info), _token(info))

    @strawberry.mutation(description="Hide a post's title from the big screen and the phones (presenter).")
    async def hide_post(self, info: Info, post_id: str) -> bool:
        return await call(info, _hide_post, state_of(info), _token(info), post_id)

    @strawberry.mutation(description="Delete a user (by id or email) and take them out of the audience (presenter).")
    async def remove_user(self, info: Info, user: str) -> User:
        return await call(info, _remove_user, state_of(info), _token(info), user)

    @strawberry.mutation(description="Check the password (argon2id) and open a session in Redis.")
    async def sign_in(self, info: Info, email: str, password: str) -> SessionResult:
        return await call(info, _sign_in, state_of(info), email, password)

    @strawberry.mutation(description="End this session.")
    async def sign_out(self, info: Info) -> bool:
        return await call(info, _sign_out, state_of(info), _token(info))

    @strawberry.mutation(description="The signed-in user follows another (Postgres).")
    async def follow(self, info: Info, followee: str) -> FollowResult:
        token = _token(info)
        limit_(info, token)
        return await call(info, _follow, state_of(info), token, followee, True)

    @strawberry.mutation(description="The signed-in user stops following another (Postgres).")
    async def unfollow(self, info: Info, followee: str) -> FollowResult:
        token = _token(info)
        limit_(info, token)
        return await call(info, _follow, state_of(info), token, followee, False)

    @strawberry.mutation(description="A post by the signed-in user: RELAY (Mongo), DUAL_WRITE or OUTBOX (Postgres).")
    async def post(self, info: Info, title: str, body: str = "", mode: PostMode = PostMode.RELAY) -> PostResult:
        token = _token(info)
        limit_(info, token)
        return await call(info, _post, state_of(info), token, title, body, mode)

    @strawberry.mutation(description="Like a post (Mongo).")
    async def like(self, info: Info, post_id: str) -> LikeResult:
        token = _token(info)
        limit_(info, token)
        return await call(info, _like, state_of(info), token, post_id)

    @strawberry.mutation(description="Delete the signed-in user (Postgres) and end the session.")
    async def delete_me(self, info: Info) -> User:
        return await call(info, _delete_me, state_of(info), _token(info))

    @strawberry.mutation(description="Start, stop or kill (SIGKILL) a projector.")
    async def projector(self, info: Info, name: str, action: ProjectorAction) -> str:
        return await call(info, _projector, state_of(info), _token(info), name, action)

    @strawberry.mutation(description="Pause or resume the Debezium connector.")
    async def connector(self, info: Info, action: ConnectorAction) -> str:
        return await call(info, _connector, state_of(info), _token(info), action)

    @strawberry.mutation(description="Play a scenario; its narration comes as captions on /api/live.")
    async def run_scenario(self, info: Info, name: str) -> str:
        return await call(info, _run_scenario, state_of(info), _token(info), name)


async def _messages(info: Info, kind: str) -> AsyncGenerator[Any, None]:
    hub = state_of(info).hub
    q = hub.subscribe()
    try:
        if kind == "snapshot" and hub.snapshot is not None:
            yield hub.snapshot
        while True:
            msg = json.loads(await q.get())
            if msg["type"] == kind:
                yield msg["data"]
    finally:
        hub.unsubscribe(q)


@strawberry.type
class Subscription:
    @strawberry.subscription(description="The snapshot, about once a second.")
    async def snapshot(self, info: Info) -> AsyncGenerator[JSON, None]:
        async for data in _messages(info, "snapshot"):
            yield data

    @strawberry.subscription(description="Each change as it travels: pushed again each time a hop is known.")
    async def flows(self, info: Info) -> AsyncGenerator[JSON, None]:
        async for data in _messages(info, "flow"):
            yield data


def root_fields(document: Any, operation_name: str | None = None) -> set[str]:
    """The root fields an operation asks for, through fragment spreads and inline fragments (pure)."""
    from graphql import (
        FieldNode,
        FragmentDefinitionNode,
        FragmentSpreadNode,
        InlineFragmentNode,
        OperationDefinitionNode,
    )

    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        ops = [o for o in ops if o.name is not None and o.name.value == operation_name]
    out: set[str] = set()
    seen: set[str] = set()

    def walk(selection_set: Any) -> None:
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                out.add(sel.name.value)
            elif isinstance(sel, InlineFragmentNode):
                walk(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
                seen.add(sel.name.value)
                if sel.name.value in fragments:
                    walk(fragments[sel.name.value].selection_set)

    for op in ops:
        walk(op.selection_set)
    return out


class AudienceGate(SchemaExtension):
    """On the audience's listener, an operation that asks for anything but the audience's fields is refused
    whole (``FORBIDDEN``) before any resolver runs: introspection and the presenter's fields included."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        if (ctx.context or {}).get("listener") == AUDIENCE and ctx.graphql_document is not None:
            asked = root_fields(ctx.graphql_document, ctx.operation_name) - {"__typename"}
            refused = sorted(asked - audience_lib.AUDIENCE_FIELDS)
            if refused:
                ctx.result = ExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            f"{', '.join(refused)}: not for the audience",
                            extensions={"code": "FORBIDDEN", "hint": "the audience can join, follow, post and like"},
                        )
                    ],
                )
        yield


def _should_mask(error: GraphQLError) -> bool:
    unexpected = error.original_error is not None and not isinstance(error.original_error, GraphQLError)
    if unexpected:
        log.error("unexpected error in %s", error.path, exc_info=error.original_error)
    return unexpected


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[AudienceGate, lambda: MaskErrors(should_mask_error=_should_mask)],
)
