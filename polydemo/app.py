"""The application layer: every use case written once, for every face.

The CLI's commands (``cli/``), the scenario runner's actions (``scenario/runner.py``) and the web
gateway call the same methods of one :class:`Demo`, built once per command from the Settings, the
Runtime and a :class:`~polydemo.stores.Stores` bundle (compose v1's shape: ``project_from_options``
makes the project, ``TopLevelCommand(project)`` runs the command; here ``cli/context.py`` makes the
Demo and the command calls one method). Each method checks its arguments (a :class:`PolydemoError`,
the same for every face), calls the library below, and returns a plain result: the faces format it.

The collaborators are passed in: the gateways (``stores``), the dual write's Kafka publish, the
crashing writers' child process and the projectors' trace records, so tests/unit/test_app.py drives
every rule with in-memory gateways, in milliseconds. Only the faces (``cli/``, ``web/``) import this
module; it imports every layer below (tests/unit/test_layers.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polydemo.config import Settings
from polydemo.errors import ExitStatus, PolydemoError

if TYPE_CHECKING:
    from polydemo.dashboard.snapshot import Collector, Snapshot
    from polydemo.pipeline.trace import Recents, Trace
    from polydemo.reads import ReadResult
    from polydemo.rehearse import Rehearsal, Row
    from polydemo.runtime.base import Runtime
    from polydemo.scenario.loader import Loaded
    from polydemo.scenario.runner import Presenter, RunResult
    from polydemo.seed import SeedResult
    from polydemo.stores import Stores
    from polydemo.stores.postgres import UserRow


# ---------------------------------------------------------------- arguments


class PostMode(StrEnum):
    """How a post's event reaches Kafka (docs/scenarios.md, "Three stories")."""

    RELAY = "relay"  # write Mongo; the change-stream relay publishes it (a scenario file calls it "cdc")
    DUAL_WRITE = "dual-write"  # write Mongo, then publish from the same process: the hazard
    OUTBOX = "outbox"  # the post and its event in one Postgres transaction; Debezium publishes it

    @classmethod
    def _missing_(cls, value: object) -> PostMode | None:
        return cls.RELAY if value == "cdc" else None

    @classmethod
    def from_flags(cls, dual_write: bool = False, outbox: bool = False) -> PostMode:
        """The CLI's ``--dual-write`` / ``--outbox``: at most one of them."""
        if dual_write and outbox:
            raise PolydemoError("--dual-write and --outbox are two different paths", hint="choose one")
        return cls.DUAL_WRITE if dual_write else cls.OUTBOX if outbox else cls.RELAY


class Consistency(StrEnum):
    """Which stores a read asks: the system of record, or the projections CDC keeps (eventually) in step."""

    STRONG = "strong"
    EVENTUAL = "eventual"

    @property
    def stores(self) -> list[str]:
        return ["postgres"] if self is Consistency.STRONG else ["redis", "neo4j"]


def usage_error(message: str, hint: str | None = None) -> PolydemoError:
    err = PolydemoError(message, hint=hint)
    err.exit_code = ExitStatus.USAGE
    return err


# ---------------------------------------------------------------- results


@dataclass
class Edge:
    """A follow or an unfollow: who, whom, and whether it changed anything."""

    follower: UserRow
    followee: UserRow
    changed: bool

    def as_dict(self) -> dict:
        return {"follower": self.follower.email, "followee": self.followee.email, "changed": self.changed}


@dataclass
class Posted:
    """A post written through one of the three paths, or the writer killed on purpose (``crashed``)."""

    mode: PostMode
    author: UserRow
    title: str
    post_id: str | None  # None only when a crashed writer made up its own id
    doc: dict | None = None  # as stored: the Mongo document, or the outbox path's ``user_posts`` row
    crashed: bool = False  # the injected crash happened where it was meant to

    def as_dict(self) -> dict:
        if self.doc is None:
            return {"_id": self.post_id, "title": self.title, "via": self.mode.value, "crashed": self.crashed}
        if self.mode is PostMode.OUTBOX:
            return {
                "_id": self.doc["id"],
                **self.doc,
                "created_at": self.doc["created_at"].isoformat(),
                "via": "outbox",
            }
        return dict(self.doc)


@dataclass
class Liked:
    post_id: str
    likes: int
    doc: dict


@dataclass
class UserReads:
    """One user as each store asked holds it now (``reads.ReadResult``: value, verdict, lag)."""

    user: str
    results: list[ReadResult]

    def as_dict(self) -> list[dict]:
        return [r.as_dict() for r in self.results]


@dataclass
class Burst:
    ids: list[str]
    seconds: float


@dataclass
class Seeded:
    result: SeedResult
    converged: bool | None  # None: not waited for

    def as_dict(self) -> dict:
        return {**self.result.__dict__, "converged": self.converged}


@dataclass
class Frame:
    """One dashboard snapshot, and the collectors still blocked on a paused server when it was taken."""

    snapshot: Snapshot
    stuck: list[str]


# ---------------------------------------------------------------- the real writers' defaults

CrashWriter = Callable[[PostMode, Settings, str, str, str, "list[str] | None", "str | None"], int]


def crashing_writer(
    mode: PostMode,
    settings: Settings,
    author_id: str,
    title: str,
    body: str,
    tags: list[str] | None,
    post_id: str | None,
) -> int:
    """Run the writer that dies between its writes, in a child process (the crash must not take the caller);
    returns the child's exit status."""
    from polydemo.pipeline import dualwrite, outbox

    writer = dualwrite.post_dual_write_crashing if mode is PostMode.DUAL_WRITE else outbox.post_via_outbox_crashing
    return writer(settings, author_id, title, body, tags, post_id=post_id)


# ---------------------------------------------------------------- the application object


class Demo:
    """Every use case of polydemo, over one Settings, one Runtime (made on first use) and one Stores bundle."""

    def __init__(
        self,
        settings: Settings,
        runtime: Runtime | None = None,
        stores: Stores | None = None,
        *,
        make_runtime: Callable[[], Runtime] | None = None,
        runtime_name: Callable[[], str] | None = None,
        publish: Callable[[Settings, dict], None] | None = None,
        crash_writer: CrashWriter = crashing_writer,
        recent: Recents | None = None,
    ):
        self.settings = settings
        self._runtime = runtime
        self._make_runtime = make_runtime
        self._runtime_name = runtime_name
        if stores is None:
            from polydemo.stores import Stores

            stores = Stores(settings)
            self._own_stores = True
        else:
            self._own_stores = False
        self.stores = stores
        self._read_stores: Stores | None = None
        self._publish = publish  # the dual write's Kafka write (None: dualwrite.publish)
        self._crash_writer = crash_writer
        self._recent = recent  # the projectors' trace records (None: their status files)

    def with_stores(self, stores: Stores) -> Demo:
        """The same application over another bundle (a scenario run has its own, closed when it ends)."""
        return Demo(
            self.settings,
            self._runtime,
            stores,
            make_runtime=self._make_runtime,
            runtime_name=self._runtime_name,
            publish=self._publish,
            crash_writer=self._crash_writer,
            recent=self._recent,
        )

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            if self._make_runtime is not None:
                self._runtime = self._make_runtime()
            else:
                from polydemo.runtime import get_runtime

                self._runtime = get_runtime(self.settings)
        return self._runtime

    @property
    def runtime_name(self) -> str:
        if self._runtime is None and self._runtime_name is not None:
            return self._runtime_name()
        return self.runtime.name

    def close(self) -> None:
        if self._own_stores:
            self.stores.close()
        if self._read_stores is not None:
            self._read_stores.close()
            self._read_stores = None

    def __enter__(self) -> Demo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ users and follows (Postgres)
    def signup(self, email: str, name: str, password: str) -> UserRow:
        from polydemo.domain import users

        return users.signup(self.settings, email, name, password, self.stores.users)

    def signup_guest(self, email: str, name: str) -> UserRow:
        """A user without a password (the web gateway's audience members: their session is their identity)."""
        from polydemo.domain import users

        return users.signup_without_password(self.settings, email, name, self.stores.users)

    def update_profile(self, user: str, name: str | None = None, bio: str | None = None) -> UserRow:
        from polydemo.domain import users

        return users.update_profile(self.settings, user, name, self.stores.users, bio=bio)

    def delete_user(self, user: str) -> UserRow:
        from polydemo.domain import users

        return users.delete_user(self.settings, user, self.stores.users)

    def follow(self, follower: str, followee: str) -> Edge:
        from polydemo.domain import users

        return Edge(*users.follow(self.settings, follower, followee, self.stores.users))

    def unfollow(self, follower: str, followee: str) -> Edge:
        from polydemo.domain import users

        return Edge(*users.unfollow(self.settings, follower, followee, self.stores.users))

    def load(self, signups: int, prefix: str, batch: int = 100, rate: float | None = None, on_batch=None) -> Burst:
        """A burst of sign-ups (``load.signup_burst``), on a connection of its own (it may run in a thread)."""
        from polydemo import load as load_lib

        t0 = time.monotonic()
        ids = load_lib.signup_burst(self.settings, signups, prefix, batch=batch, rate=rate, on_batch=on_batch)
        return Burst(ids, time.monotonic() - t0)

    # ------------------------------------------------------------ posts (three paths to Kafka)
    def post(
        self,
        author: str,
        title: str,
        body: str = "",
        tags: list[str] | None = None,
        mode: PostMode | str = PostMode.RELAY,
        crash_between: bool = False,
        post_id: str | None = None,
    ) -> Posted:
        """Write a post. ``crash_between`` (dual write or outbox only) kills the writer between its writes,
        in a child process: the result says ``crashed``; each face tells it as it always did."""
        from polydemo.domain import posts, users
        from polydemo.pipeline import dualwrite, outbox

        mode = PostMode(mode)
        if crash_between and mode is PostMode.RELAY:
            raise PolydemoError(
                "--crash-between-writes only applies to --dual-write or --outbox", hint="add --dual-write or --outbox"
            )
        who = users.require_user(self.settings, author, self.stores.users)
        if crash_between:
            code = self._crash_writer(mode, self.settings, who.id, title, body, tags, post_id)
            if mode is PostMode.DUAL_WRITE and code != dualwrite.CRASH_EXIT:
                raise PolydemoError(
                    f"the dual-write writer exited {code}, not with the injected crash ({dualwrite.CRASH_EXIT})",
                    hint="its error is on stderr above",
                )
            if mode is PostMode.OUTBOX and code != outbox.CRASH_EXIT:
                raise PolydemoError(
                    f"the outbox writer exited {code}, not killed by the injected SIGKILL ({outbox.CRASH_EXIT})",
                    hint="its error is on stderr above",
                )
            return Posted(mode, who, title, post_id, None, crashed=True)
        if mode is PostMode.OUTBOX:
            row = outbox.post_via_outbox(
                self.settings, who.id, title, body, tags, post_id=post_id, users=self.stores.users
            )
            return Posted(mode, who, row["title"], row["id"], row)
        if mode is PostMode.DUAL_WRITE:
            doc = dualwrite.post_dual_write(
                self.settings,
                who.id,
                title,
                body,
                tags,
                post_id=post_id,
                posts_gateway=self.stores.posts,
                publisher=self._publish,
            )
        else:
            doc = posts.create_post(self.settings, who.id, title, body, tags, post_id=post_id, posts=self.stores.posts)
        return Posted(mode, who, doc["title"], doc["_id"], doc)

    def like(self, post_id: str) -> Liked:
        from polydemo.domain import posts

        doc = posts.like_post(self.settings, post_id, posts=self.stores.posts)
        return Liked(doc["_id"], doc["meta"]["likes"], doc)

    def labels(self, kind: str, ids: list[str]) -> dict[str, str]:
        """id -> what to call it on screen: a user's name (Postgres), a post's title (Mongo)."""
        if kind == "post":
            return self.stores.posts.titles(ids)
        return self.stores.users.names(ids)

    # ------------------------------------------------------------ the pipeline's processes (stage controls)
    def projector(self, name: str, action: str) -> str:
        """``start``, ``stop`` or ``kill`` (SIGKILL) projector ``name``; the outcome in a few words."""
        from polydemo.pipeline import workers

        actions = {"start": workers.start, "stop": workers.stop, "kill": workers.kill}
        if action not in actions:
            raise usage_error(f"unknown projector action {action!r}", hint="use start, stop or kill")
        return actions[action](self.settings, name)

    def connector(self, action: str) -> str:
        """``pause`` or ``resume`` the Debezium connector."""
        from polydemo.pipeline import connector as connector_lib

        if action not in ("pause", "resume"):
            raise usage_error(f"unknown connector action {action!r}", hint="use pause or resume")
        (connector_lib.pause if action == "pause" else connector_lib.resume)(self.settings)
        return f"connector {self.settings.connector_name}: {action}d"

    # ------------------------------------------------------------ reads and traces
    def read_user(self, user: str, stores: str | Sequence[str] | Consistency = "all") -> UserReads:
        """What each store holds for ``user`` now: ``all``, a store name, a list of them, or a Consistency
        (strong: Postgres; eventual: the projections), each with its verdict and lag (``reads.read_user``)."""
        from polydemo import reads

        if isinstance(stores, str):
            if stores == "all":
                names = list(reads.STORES)
            elif stores in tuple(Consistency):
                names = Consistency(stores).stores
            else:
                names = [stores]
        else:
            names = list(stores)
        for s in names:
            if s not in reads.STORES:
                raise PolydemoError(f"unknown store {s!r}", hint=f"use one of: {', '.join(reads.STORES)}, all")
        return UserReads(user, reads.read_user(self.settings, user, names, self.read_stores))

    @property
    def read_stores(self) -> Stores:
        """A second bundle for the reads, every client with short timeouts (``reads.READ_TIMEOUT_S``): a frozen
        store is "not answering" in seconds, and this bundle's broken connections never reach the writes'."""
        if not self._own_stores:
            return self.stores  # the caller's bundle (a scenario's, a test's): its timeouts are the caller's
        if self._read_stores is None:
            from polydemo import reads
            from polydemo.stores import Stores

            self._read_stores = Stores(self.settings, timeout=reads.READ_TIMEOUT_S)
        return self._read_stores

    def trace(self, user: str | None = None, post: str | None = None, wait: float = 10.0) -> Trace:
        """One write hop by hop (``pipeline.trace``): a user's latest change, or a post's (exactly one)."""
        from polydemo.pipeline import trace as trace_lib

        if (user is None) == (post is None):
            raise usage_error("trace needs a user email or --post POST_ID (one of them)", hint="polydemo trace EMAIL")
        recent = self._recent or trace_lib.read_recent
        if post is not None:
            return trace_lib.trace_post(self.settings, post, wait, recent=recent)
        return trace_lib.trace_user(self.settings, user or "", wait, users=self.stores.users, recent=recent)

    # ------------------------------------------------------------ the whole stack's data
    def seed(self, reset: bool = False, wait: bool = True) -> Seeded:
        from polydemo import seed as seed_lib

        result = seed_lib.seed(self.settings, reset=reset, stores=self.stores)
        converged = seed_lib.wait_converged(self.settings, timeout=60, stores=self.stores) if wait else None
        return Seeded(result, converged)

    def reset(self, say: Callable[[str], None] = lambda message: None) -> SeedResult:
        from polydemo import reset as reset_lib

        return reset_lib.reset(self.settings, say=say, stores=self.stores)

    def collector(self) -> Collector:
        """The dashboard's collector (long-lived clients with short timeouts); the caller closes it."""
        from polydemo.dashboard.snapshot import Collector

        return Collector(self.settings, self.runtime_name)

    def snapshot(self) -> Frame:
        """One dashboard snapshot (the pure model the terminal and the web page both draw)."""
        collector = self.collector()
        try:
            snap = collector.collect()
        finally:
            stuck = collector.close()
        return Frame(snap, stuck)

    # ------------------------------------------------------------ scenarios and rehearsals
    def run_scenario(
        self,
        loaded: Loaded,
        presenter: Presenter | None = None,
        speed: float = 1.0,
        step_mode: bool = False,
        show_commands: bool = False,
        **pacing: Any,
    ) -> RunResult:
        """Play a scenario (``scenario.runner``) on a Stores bundle of its own, closed when it ends: a drill
        that broke a connection does not leave it to the next command."""
        from polydemo.scenario.runner import ScenarioRunner
        from polydemo.stores import Stores

        with Stores(self.settings) as stores:
            return ScenarioRunner(
                self.settings,
                self.runtime,
                loaded,
                presenter=presenter,
                speed=speed,
                step_mode=step_mode,
                show_commands=show_commands,
                app=self.with_stores(stores),
                **pacing,
            ).run()

    def rehearsal_plan(
        self, names: Sequence[str] = (), dirs: Sequence[Path] = (), warn: Callable[[str], None] | None = None
    ) -> list[str]:
        """The scenarios a rehearsal plays (``rehearse.plan``), each loaded once: a bad name or file is a usage
        error before anything is reset."""
        from polydemo import rehearse as rehearse_lib
        from polydemo.scenario import loader

        scenarios = rehearse_lib.plan(list(names), [p.stem for p in loader.builtin_dir().glob("*.yaml")])
        for name in scenarios:
            loader.load(name, dirs, warn=warn)
        return scenarios

    def rehearse(
        self,
        scenarios: Sequence[str],
        dirs: Sequence[Path] = (),
        warn: Callable[[str], None] | None = None,
        say: Callable[[str], None] = lambda message: None,
        on_row: Callable[[Row], None] = lambda row: None,
    ) -> Rehearsal:
        """The hotel-room check (``rehearse.rehearse``) with the real steps: the doctor's checks, a reset,
        each scenario at --speed 100, a reset again. ``say`` hears the resets' progress, ``on_row`` each verdict."""
        from polydemo import doctor as doctor_lib
        from polydemo import rehearse as rehearse_lib
        from polydemo.scenario import loader
        from polydemo.stores import Stores

        def doctor() -> rehearse_lib.Outcome:
            bad = [c for c in doctor_lib.run_checks(self.settings) if not c.ok]
            if bad:
                return rehearse_lib.Outcome(False, f"{len(bad)} problem(s); first: {bad[0].name}: {bad[0].detail}")
            return rehearse_lib.Outcome(True, "everything polydemo needs is in place")

        def reset() -> rehearse_lib.Outcome:
            with Stores(self.settings) as fresh:  # not the bundle of before the drills: each reset has its own
                r = self.with_stores(fresh).reset(say=lambda m: say(f"reset: {m}"))
            return rehearse_lib.Outcome(
                True, f"{r.users_added} users, {r.follows_added} follows, {r.posts_added} posts; converged"
            )

        def run(name: str) -> rehearse_lib.Outcome:
            loaded = loader.load(name, dirs, warn=warn)
            result = self.run_scenario(loaded, speed=100)
            if result.passed:
                return rehearse_lib.Outcome(True, f"{len(result.steps)} steps")
            f = result.failures[-1] if result.failures else None
            why = "interrupted" if result.interrupted else "failed"
            if f is not None:
                why = f"{loaded.path.name}:{f.line}: step {f.index + 1} ({f.kind}): {f.message}"
            if result.not_restored:
                why += f" (not restored: {'; '.join(result.not_restored)})"
            return rehearse_lib.Outcome(False, why)

        return rehearse_lib.rehearse(scenarios, doctor, reset, run, on_row=on_row)
