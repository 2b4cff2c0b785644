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
from collections.abc import AsyncGenerator, Callable
from enum import Enum
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.scalars import JSON
from strawberry.types import Info

from polydemo.errors import AlreadyExists, NotFound, PolydemoError, StoreTimeout, StoreUnreachable, Unauthenticated
from polydemo.web.sessions import Session, bearer
from polydemo.web.state import WebState

log = logging.getLogger(__name__)
T = TypeVar("T")

RYW_WAIT_S = 3.0  # how long a read-your-writes read waits for the projection, at most
PROJECTOR_OF = {"redis": "cache", "neo4j": "graph"}


def error_code(exc: PolydemoError) -> str:
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
    return GraphQLError(str(exc.message), extensions={"code": error_code(exc), "hint": exc.hint})


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
    return st.sessions().find(token)


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
    return FollowResult(follower=edge.follower.email, followee=edge.followee.email, changed=edge.changed)


def _post(st: WebState, token: str | None, title: str, body: str, mode: PostMode) -> PostResult:
    session = _session(st, token)
    if mode is PostMode.OUTBOX:
        _mark_before_write(st, session)
    posted = st.demo().post(session.user_id, title, body, mode=mode.value)
    return PostResult(
        id=str(posted.post_id) if posted.post_id else None, title=posted.title, mode=mode.name, author=session.email
    )


def _like(st: WebState, token: str | None, post_id: str) -> LikeResult:
    _session(st, token)
    liked = st.demo().like(post_id)
    return LikeResult(id=str(liked.post_id), likes=liked.likes)


def _delete_me(st: WebState, token: str | None) -> User:
    session = _session(st, token)
    _mark_before_write(st, session)
    row = st.demo().delete_user(session.user_id)
    st.sessions().end(session.token)
    return User.of(row)


def _projector(st: WebState, token: str | None, name: str, action: ProjectorAction) -> str:
    _session(st, token)
    return st.demo().projector(name, action.value)


def _connector(st: WebState, token: str | None, action: ConnectorAction) -> str:
    _session(st, token)
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
    _session(st, token)
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


# ---------------------------------------------------------------- the schema


@strawberry.type
class Query:
    @strawberry.field(description="The stack's health, from the gateway's last snapshot.")
    async def health(self, info: Info) -> Health:
        return await call(info, _health, state_of(info))

    @strawberry.field(description="The signed-in user (needs a session).")
    async def me(self, info: Info) -> User:
        return await call(info, _me, state_of(info), _token(info))

    @strawberry.field(description="The latest users, from Postgres (the system of record).")
    async def users(self, info: Info, limit: int = 10) -> list[User]:
        return await call(info, _users, state_of(info), limit)

    @strawberry.field(
        description="One user as the stores hold it: STRONG reads Postgres, EVENTUAL the projections (Redis, "
        "Neo4j), READ_YOUR_WRITES the projections once they applied this session's last write (bounded wait)."
    )
    async def user(self, info: Info, id: str, consistency: Consistency = Consistency.STRONG) -> list[Read]:
        return await call(info, _read, state_of(info), _token(info), id, consistency)

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

    @strawberry.mutation(description="Check the password (argon2id) and open a session in Redis.")
    async def sign_in(self, info: Info, email: str, password: str) -> SessionResult:
        return await call(info, _sign_in, state_of(info), email, password)

    @strawberry.mutation(description="End this session.")
    async def sign_out(self, info: Info) -> bool:
        return await call(info, _sign_out, state_of(info), _token(info))

    @strawberry.mutation(description="The signed-in user follows another (Postgres).")
    async def follow(self, info: Info, followee: str) -> FollowResult:
        return await call(info, _follow, state_of(info), _token(info), followee, True)

    @strawberry.mutation(description="The signed-in user stops following another (Postgres).")
    async def unfollow(self, info: Info, followee: str) -> FollowResult:
        return await call(info, _follow, state_of(info), _token(info), followee, False)

    @strawberry.mutation(description="A post by the signed-in user: RELAY (Mongo), DUAL_WRITE or OUTBOX (Postgres).")
    async def post(self, info: Info, title: str, body: str = "", mode: PostMode = PostMode.RELAY) -> PostResult:
        return await call(info, _post, state_of(info), _token(info), title, body, mode)

    @strawberry.mutation(description="Like a post (Mongo).")
    async def like(self, info: Info, post_id: str) -> LikeResult:
        return await call(info, _like, state_of(info), _token(info), post_id)

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


def _should_mask(error: GraphQLError) -> bool:
    unexpected = error.original_error is not None and not isinstance(error.original_error, GraphQLError)
    if unexpected:
        log.error("unexpected error in %s", error.path, exc_info=error.original_error)
    return unexpected


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[lambda: MaskErrors(should_mask_error=_should_mask)],
)
