"""Playing a scenario against the running stack: steps -> domain, runtime, pipeline; checks -> stores.

Repeatable: before the first step the runner removes what an earlier run of the same scenario
created (its sign-ups, load users and posts), so every run starts from the same state and ends
with the same counts. Whatever a scenario stopped, killed or paused is restarted when it ends,
fails or is interrupted (Ctrl-C).

What a step does is its own ``run`` (``scenario/model.py``, one registry of step kinds); the runner
gives it the collaborators: ``actions`` (the writes and controls, :class:`StackActions`), ``probe``
(the reads a condition needs, :class:`StackProbe`), the presenter, and a clock and a sleep.
tests/unit/test_scenario_runner.py passes stand-ins for all of them.

On the real stack the runner is given the application object (``app``, :class:`polydemo.app.Demo`,
which sits above this layer: it is passed in, never imported): a sign-up, a post, a read or a trace in
a scenario is the very use case the CLI runs (:class:`UseCases`), over the app's Stores bundle.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol

from polydemo.config import Settings
from polydemo.errors import PolydemoError
from polydemo.scenario.loader import Loaded
from polydemo.scenario.model import (
    READ_MODELS,
    WORKER_TARGETS,
    AddColumn,
    CountCond,
    Load,
    Post,
    Signup,
    StepFailed,
    StepModel,
)

log = logging.getLogger("polydemo.scenario")


@dataclass
class StepResult:
    index: int
    kind: str
    line: int
    ok: bool
    message: str
    seconds: float
    expected: str | None = None
    seen: str | None = None
    commands: list[str] = field(default_factory=list)  # --show-commands: "store: statement", as they ran
    trace: dict | None = None  # a `trace` step: the waterfall (polydemo.pipeline.trace.Trace.to_dict())


@dataclass
class RunResult:
    name: str
    title: str
    passed: bool = True
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    not_restored: list[str] = field(default_factory=list)  # "<target>: <why>" for what could not be restarted

    @property
    def failures(self) -> list[StepResult]:
        return [s for s in self.steps if not s.ok]

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "passed": self.passed,
            "seconds": round(self.seconds, 2),
            "interrupted": self.interrupted,
            "steps": [asdict(s) for s in self.steps],
            **({"not_restored": self.not_restored} if self.not_restored else {}),
        }


class SkipWait(Exception):
    """The presenter skipped the current wait (``s`` in --step mode): a sleep, a say's hold, a wait_until."""


class Presenter:
    """How a run is shown. The default shows nothing; the CLI passes a line or dashboard presenter."""

    def begin(self, loaded: Loaded) -> None: ...

    def step_started(self, index: int, step: StepModel, line: int) -> None: ...

    def step_done(self, result: StepResult) -> None: ...

    def caption(self, text: str) -> None: ...

    def prompt(self, text: str) -> None: ...

    def end(self, result: RunResult) -> None: ...


def describe(step: StepModel) -> str:
    """A one-line human description of a step (``scenario show`` and the run's lines)."""
    return step.describe()


def estimate_seconds(loaded: Loaded) -> float:
    return sum(s.estimate() for s in loaded.scenario.steps)


# ---------------------------------------------------------------- collaborators


class Actions(Protocol):
    """What steps do to the stack (:class:`StackActions`; tests pass a recorder)."""

    def prepare(self, loaded: Loaded, load_prefixes: list[str]) -> None: ...

    def signup(self, email: str, name: str, password: str) -> Any: ...

    def follow(self, follower: str, followee: str) -> tuple[Any, Any, bool]: ...

    def unfollow(self, follower: str, followee: str) -> tuple[Any, Any, bool]: ...

    def post(self, step: Post) -> str: ...

    def like(self, post_id: str) -> dict: ...

    def read(self, user: str, stores: list[str]) -> list: ...

    def load(self, signups: int, prefix: str, batch: int, rate: float) -> list: ...

    def control(self, target: str, action: str) -> str: ...

    def resolve_broker(self, which: str) -> int: ...

    def add_column(self, step: AddColumn, load_prefix: str) -> str: ...

    def drop_column(self, table: str, column: str) -> str: ...

    def backfill(self, table: str, source: str, target: str) -> str: ...

    def update_profile(self, user: str, name: str | None, bio: str | None) -> str: ...

    def event_fields(self, topic: str) -> list[str]: ...

    def breaking_event(self, user: str, without: list[str]) -> str: ...

    def close(self) -> None: ...


class UseCases(Protocol):
    """The application object's use cases the steps call (:class:`polydemo.app.Demo`; passed in)."""

    stores: Any

    def signup(self, email: str, name: str, password: str) -> Any: ...

    def follow(self, follower: str, followee: str) -> Any: ...

    def unfollow(self, follower: str, followee: str) -> Any: ...

    def update_profile(self, user: str, name: str | None = None, bio: str | None = None) -> Any: ...

    def post(
        self,
        author: str,
        title: str,
        body: str = "",
        tags: list[str] | None = None,
        mode: Any = ...,
        crash_between: bool = False,
        post_id: str | None = None,
    ) -> Any: ...

    def like(self, post_id: str) -> Any: ...

    def read_user(self, user: str, stores: Any = "all") -> Any: ...

    def load(self, signups: int, prefix: str, batch: int = 100, rate: float | None = None, on_batch=None) -> Any: ...

    def trace(self, user: str | None = None, post: str | None = None, wait: float = 10.0) -> Any: ...


class ScenarioRunner:
    def __init__(
        self,
        settings: Settings,
        runtime: Any,
        loaded: Loaded,
        presenter: Presenter | None = None,
        speed: float = 1.0,
        step_mode: bool = False,
        wait_key: Callable[[str], Any] | None = None,
        actions: Actions | None = None,
        probe: Any = None,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], Any] = time.sleep,
        show_commands: bool = False,
        projected: Callable[[list[str], float], list[str]] | None = None,
        app: UseCases | None = None,
    ):
        if speed <= 0:
            raise PolydemoError("--speed must be above 0", hint="1 is real time; 100 skips the pacing")
        self.settings = settings
        self.runtime = runtime
        self.loaded = loaded
        self.presenter = presenter or Presenter()
        self.speed = speed
        self.step_mode = step_mode
        self.wait_key = wait_key or (lambda prompt: input(f"{prompt} "))
        self.clock, self.sleep = clock, sleep
        self.show_commands = show_commands
        self.projected = projected or (lambda keys, since: projected_commands(settings, keys, since))
        self.to_restore: dict[str, str] = {}
        self.added: dict[str, float] = {}  # optional projector -> when this run added it (catch_up measures from it)
        self.commits: dict[str, float] = {}
        self.traces: dict[str, float] = {}
        self.killed_brokers: list[int] = []  # by kill_broker steps, not started again yet
        self.schemas: dict[str, list[str]] = {}  # the `schema` step's last look per topic (for its diff)
        self.step_trace: dict | None = None  # what the running `trace` step drew (its StepResult.trace)
        self.app = app
        self.clients = app.stores if app is not None else None  # the app's bundle: one connection per store
        if actions is None or probe is None:
            if app is None:
                raise TypeError("the runner needs the application object (app=polydemo.app.Demo) or actions and probe")
            actions = actions if actions is not None else StackActions(settings, runtime, app)
            probe = probe if probe is not None else StackProbe(settings, app.stores, app)
        self.actions: Actions = actions
        self.probe = probe

    # ------------------------------------------------------------------ public
    def run(self) -> RunResult:
        sc = self.loaded.scenario
        result = RunResult(self.loaded.name, sc.title)
        t0 = time.monotonic()
        self.presenter.begin(self.loaded)
        try:
            prefixes = [self.load_prefix(s) for s in sc.steps if isinstance(s, Load | AddColumn)]
            self.actions.prepare(self.loaded, prefixes)
            for i, step in enumerate(sc.steps):
                line = self.loaded.step_lines[i] if i < len(self.loaded.step_lines) else 0
                self.presenter.step_started(i, step, line)
                s0 = time.monotonic()
                res = self.execute(i, step, line)
                res.seconds = time.monotonic() - s0
                result.steps.append(res)
                self.presenter.step_done(res)
                if not res.ok:
                    result.passed = False
                    break
        except KeyboardInterrupt:
            result.interrupted = True
            result.passed = False
        except BaseException:
            # the preparation (or the presenter) failed before a step could: the run did not pass, and the
            # summary line printed on the way out must not say it did
            result.passed = False
            raise
        finally:
            result.not_restored = self.restore()
            self.actions.close()  # the clients are the app's: its owner closes them (Demo.run_scenario)
            result.seconds = time.monotonic() - t0
            self.presenter.end(result)
        return result

    def execute(self, i: int, step: StepModel, line: int) -> StepResult:
        if not self.show_commands:
            return self._execute(i, step, line)
        from polydemo.stores import statements

        since = time.time()
        with statements.recording() as noted:
            res = self._execute(i, step, line)
        res.commands = [f"{st.store}: {st.text}" for st in noted.items]
        keys = noted.keys()
        if keys and res.ok:
            res.commands += self.projected(keys, since)
        return res

    def _execute(self, i: int, step: StepModel, line: int) -> StepResult:
        self.step_trace = None
        try:
            return StepResult(i, step.kind, line, True, step.run(self), 0.0, trace=self.step_trace)
        except SkipWait:
            return StepResult(i, step.kind, line, True, "skipped by the presenter", 0.0)
        except StepFailed as exc:
            return StepResult(i, step.kind, line, False, exc.message, 0.0, exc.expected, exc.seen)
        except PolydemoError as exc:
            return StepResult(i, step.kind, line, False, exc.message, 0.0)
        except Exception as exc:  # broad: any other error fails this step (the run restores and ends)
            log.debug("step %d (%s) raised", i + 1, step.kind, exc_info=True)
            return StepResult(i, step.kind, line, False, f"{type(exc).__name__}: {exc}"[:300], 0.0)

    def load_prefix(self, step: Load | AddColumn) -> str:
        return f"{self.loaded.name}-{step.prefix}"

    def pace(self, seconds: float) -> None:
        if seconds > 0:
            # the rest of a say's hold or a sleep, skipped: the step itself still happened
            with contextlib.suppress(SkipWait):
                self.sleep(seconds / self.speed)

    # ------------------------------------------------------------------ control, and restoring it
    RESTORE: ClassVar[dict[str, str]] = {"stop": "start", "kill": "start", "pause": "resume", "add": "remove"}

    def control(self, target: str, action: str, remember: bool = True) -> str:
        if remember and action.startswith("scale:"):  # scaled up: back to one instance at the end
            if action != "scale:1":
                self.to_restore.setdefault(target, "scale:1")
            elif self.to_restore.get(target) == "scale:1":
                self.to_restore.pop(target)
        elif remember and action in self.RESTORE:
            self.to_restore[target] = self.RESTORE[action]
        elif remember and action in ("start", "resume", "remove"):
            self.to_restore.pop(target, None)
        return self.actions.control(target, action)

    def restore(self) -> list[str]:
        """Restart what the scenario stopped; returns what could not be (each also logged)."""
        failed = []
        for target, action in list(self.to_restore.items()):
            try:
                self.control(target, action, remember=False)
            except Exception as exc:  # noqa: BLE001 - restore the rest; the result and `status` say what is down
                why = f"{target}: {action} failed: {type(exc).__name__}: {str(exc)[:200]}"
                log.warning("restoring after the scenario: %s", why)
                failed.append(why)
        self.to_restore.clear()
        return failed


# ---------------------------------------------------------------- the real stack

SHOWN_PROJECTORS = ("graph", "cache")


def projected_commands(settings: Settings, keys: list[str], since: float, timeout: float = 10.0) -> list[str]:
    """What the graph and cache projectors ran for these changes (they save it while --show-commands is on),
    with where each change sat on Kafka; waits until both have applied every change, or ``timeout``."""
    from polydemo.pipeline import loop

    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, dict[str, dict]] = {}
        for name in SHOWN_PROJECTORS:
            for e in loop.recorded_statements(settings, name):
                if e.get("key") in keys and e.get("at", 0) >= since - 1:
                    found.setdefault(name, {})[e["key"]] = e  # the newest per key
        if all(len(found.get(n, {})) == len(keys) for n in SHOWN_PROJECTORS) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    out: list[str] = []
    for key in keys:
        kafka_shown = False
        for name in SHOWN_PROJECTORS:
            entry = found.get(name, {}).get(key)
            if entry is None:
                out.append(f"{name} projector: nothing recorded for {key} within {timeout:.0f}s")
                continue
            if not kafka_shown:
                k = entry["kafka"]
                out.append(f"kafka: {k['topic']} partition {k['partition']} offset {k['offset']}")
                kafka_shown = True
            out += [f"{SERVICE_OF[name]}: {text}" for text in entry.get("statements", [])]
    return out


SERVICE_OF = {"graph": "neo4j", "cache": "redis"}


class StackProbe:
    """The reads a condition needs, from the real stores (``scenario/checks.py``) and the pipeline."""

    def __init__(self, settings: Settings, clients: Any, app: UseCases | None = None):
        self.settings, self.clients, self.app = settings, clients, app
        self.started_ms = int(time.time() * 1000)  # dlq_events counts what this run dead-lettered

    def metric(self, name: str, cond: CountCond | None = None) -> int:
        from polydemo.scenario import checks

        if name == "dlq_events":
            return checks.dlq_events(self.clients, cond.reason if cond else None, self.started_ms)
        return checks.metric(self.settings, name, cond, self.clients)

    def bio(self, store: str, email: str) -> str | None:
        from polydemo.scenario import checks

        return checks.bio(self.clients, store, email)

    def partitions(self, topic: str) -> list[tuple[int, int, int]]:
        """(partition, leader, ISR size) of a CDC topic (``users``/``follows``/``posts``)."""
        from polydemo.pipeline.events import topics

        with self._fresh_kafka_on_error():
            states = self.clients.kafka.partition_states([topics(self.settings.topic_prefix)[topic]])
        return [(p.partition, p.leader, len(p.isr)) for p in states]

    @contextlib.contextmanager
    def _fresh_kafka_on_error(self) -> Iterator[None]:
        """A Kafka read that failed (a broker died under the client) drops the admin client: the next read
        makes a new one, bootstrapped from the brokers that are up, instead of waiting on a dead leader."""
        try:
            yield
        except Exception:  # broad, and re-raised: whatever the read raised, the admin client is made anew
            self.clients.kafka.close()
            raise

    def lags(self) -> dict[str, int]:
        from polydemo.pipeline import lag

        with self._fresh_kafka_on_error():
            return lag.projector_lag(self.settings, self.clients.kafka)

    def user_name(self, store: str, email: str) -> str | None:
        from polydemo.scenario import checks

        return checks.user_name(self.settings, store, email, self.clients)

    def connector_states(self) -> tuple[str, list[str]]:
        from polydemo.pipeline import connector

        return connector.states(self.clients.connect.status())

    def projector_state(self, name: str) -> tuple[str, str | None]:
        from polydemo.pipeline import workers

        st = workers.status(self.settings, name)
        return st.state, st.last_error

    def who_to_follow(self) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
        """(the wtf read model in Redis, friends of friends in SQL on Postgres)."""
        return self.clients.cache.who_to_follow(), self.clients.users.who_to_follow()

    def progress(self, name: str) -> tuple[int, int]:
        from polydemo.pipeline import lag

        return lag.progress(self.settings, self.clients.kafka, name)

    def owners(self, name: str) -> tuple[dict[str, int], int]:
        """(instance -> partitions it owns now, partitions of the projector's topics)."""
        from polydemo.pipeline import workers
        from polydemo.pipeline.loop import instance_of
        from polydemo.pipeline.projectors import ALL_PROJECTORS

        kafka = self.clients.kafka
        members = workers.members(self.settings, name)
        counts = {instance_of(m.client_id) or m.client_id: len(m.partitions) for m in members if m.partitions}
        topics = ALL_PROJECTORS[name](self.settings).topics()
        return counts, sum(kafka.partition_counts(topics).values())

    def waterfall(self, email: str, wait: float) -> dict | None:
        if self.app is None:
            return None
        try:
            return self.app.trace(user=email, wait=wait).to_dict()
        except PolydemoError as exc:  # the step already saw the user everywhere; the waterfall is extra
            log.debug("no waterfall for %s: %s", email, exc.message)
            return None


class StackActions:
    """What steps do, on the real stack: the app's use cases (sign-ups, follows, posts, reads, load), and the
    drills of the pipeline and the runtime."""

    def __init__(self, settings: Settings, runtime: Any, app: UseCases):
        self.settings, self.runtime, self.app = settings, runtime, app
        self.clients = app.stores

    def close(self) -> None:
        return None  # the runner closes the shared clients

    # ------------------------------------------------------------------ preparation
    def prepare(self, loaded: Loaded, load_prefixes: list[str]) -> None:
        """Remove what an earlier run of this scenario created; make sure the pipeline runs."""
        from polydemo.pipeline import connector, workers
        from polydemo.scenario import checks
        from polydemo.seed import wait_converged

        sc = loaded.scenario
        stores = self.clients
        emails = [s.email.lower() for s in sc.steps if isinstance(s, Signup)]
        post_ids = [s.id for s in sc.steps if isinstance(s, Post)]
        old_ids = stores.users.delete_users(emails=emails)
        for p in load_prefixes:
            old_ids += stores.users.delete_users(email_like=f"{p}-%@load.example")
        stores.posts.delete(post_ids)
        for col in dict.fromkeys(s.column for s in sc.steps if isinstance(s, AddColumn)):
            stores.users.drop_column("users", col)  # an earlier run's schema change: database.sql is the truth
        stores.users.delete_outbox_posts(post_ids)  # the outbox path's business rows (their events stay)
        for name in workers.WORKERS:
            workers.start(self.settings, name)
        if connector.states(stores.connect.status())[0] == "PAUSED":
            connector.resume(self.settings)

        # The earlier run's analytics history goes too (its sign-ups, follows, posts and the deletions
        # just made), so every run of a scenario ends with the same counts in every store. The deletions
        # must have gone through the pipeline first, or their events would arrive after the clean-up.
        deadline = time.monotonic() + 60
        while old_ids and time.monotonic() < deadline:
            if stores.events.count_for_users("user_deleted", old_ids) >= len(old_ids):
                break
            time.sleep(0.2)
        for _ in range(2):  # the cascaded unfollows trail the deletions by a few ms
            wait_converged(self.settings, timeout=60, stores=stores)
            if old_ids or post_ids:
                stores.events.delete_history(old_ids, post_ids)
            time.sleep(0.3)
        checks.warm(stores)

    # ------------------------------------------------------------------ steps: the app's use cases
    def signup(self, email: str, name: str, password: str) -> Any:
        return self.app.signup(email, name, password)

    def follow(self, follower: str, followee: str) -> tuple[Any, Any, bool]:
        edge = self.app.follow(follower, followee)
        return edge.follower, edge.followee, edge.changed

    def unfollow(self, follower: str, followee: str) -> tuple[Any, Any, bool]:
        edge = self.app.unfollow(follower, followee)
        return edge.follower, edge.followee, edge.changed

    def like(self, post_id: str) -> dict:
        return self.app.like(post_id).doc

    def read(self, user: str, stores: list[str]) -> list:
        return self.app.read_user(user, stores).results

    def load(self, signups: int, prefix: str, batch: int, rate: float) -> list:
        return self.app.load(signups, prefix, batch=batch, rate=rate).ids

    def post(self, step: Post) -> str:
        done = self.app.post(
            step.author, step.title, step.body, step.tags, step.mode, crash_between=step.crash_between, post_id=step.id
        )
        if done.crashed and step.mode == "dual-write":
            return f"{step.id} written to Mongo; the writer crashed before publishing (injected)"
        if done.crashed:
            return f"{step.id}: the writer was SIGKILLed after its INSERTs, before COMMIT (injected)"
        if step.mode == "outbox":
            return f"{done.post_id} and its outbox entry committed in one Postgres transaction; Debezium publishes it"
        if step.mode == "dual-write":
            return f"{done.post_id} written to Mongo and published by the writer (dual write)"
        return f"{done.post_id} written to Mongo; the relay publishes it"

    # ------------------------------------------------------------------ the schema-change story
    def add_column(self, step: AddColumn, load_prefix: str) -> str:
        """The ALTER TABLE, halfway through ``step.during_load`` sign-ups when asked (they keep committing)."""
        import threading

        users = self.clients.users
        if not step.during_load:
            added = users.add_column(step.table, step.column, step.type)
            return f"{step.table}.{step.column} {'added' if added else 'was there already'}"
        half = threading.Event()
        done: list = []
        errors: list[BaseException] = []

        def burst() -> None:
            try:
                done.extend(
                    self.app.load(
                        step.during_load,
                        load_prefix,
                        batch=max(1, min(20, int(step.rate / 10) or 1)),
                        rate=step.rate,
                        on_batch=lambda n: half.set() if n >= step.during_load // 2 else None,
                    ).ids
                )
            except BaseException as exc:  # noqa: BLE001 - re-raised in the step's thread below
                errors.append(exc)
            finally:
                half.set()

        t = threading.Thread(target=burst, name="schema-change-load", daemon=True)
        t0 = time.monotonic()
        t.start()
        half.wait(timeout=120)
        added = users.add_column(step.table, step.column, step.type)
        at = time.monotonic() - t0
        t.join(timeout=300)
        if errors:
            raise errors[0]
        return (
            f"{step.table}.{step.column} {'added' if added else 'was there already'} {at:.1f}s into "
            f"{len(done)} sign-ups (committed in {time.monotonic() - t0:.1f}s)"
        )

    def drop_column(self, table: str, column: str) -> str:
        dropped = self.clients.users.drop_column(table, column)
        return f"{table}.{column} {'dropped' if dropped else 'was not there'}"

    def backfill(self, table: str, source: str, target: str) -> str:
        n = self.clients.users.backfill_column(table, source, target)
        return f"{n} row(s) of {table}: {target} = {source} (each an update event)"

    def update_profile(self, user: str, name: str | None, bio: str | None) -> str:
        u = self.app.update_profile(user, name, bio)
        cols = [c for c in ("bio", "about") if c in self.clients.users.columns("users")]
        return f"{u.email}: " + ", ".join(
            x
            for x in (f"name {u.name!r}" if name is not None else "", f"bio into {', '.join(cols)}" if bio else "")
            if x
        )

    def event_fields(self, topic: str) -> list[str]:
        """The columns of the newest Debezium event on the topic (the injected ones are not Debezium's)."""
        import json

        from polydemo.pipeline.events import row_fields, topics

        for raw in reversed(self.clients.kafka.tail(topics(self.settings.topic_prefix)[topic], 20)):
            try:
                env = json.loads(raw) if raw else None
            except ValueError:  # not JSON (the story's injected malformed event): not Debezium's, look further back
                continue
            if isinstance(env, dict) and (env.get("source") or {}).get("connector") == "postgresql":
                return row_fields(env)
        return []

    def breaking_event(self, user: str, without: list[str]) -> str:
        import json

        from polydemo.domain import users
        from polydemo.pipeline.events import topics

        u = users.require_user(self.settings, user, self.clients.users)
        row = {k: (str(v) if v is not None else None) for k, v in u.as_dict().items() if k not in without}
        env = {
            "before": None,
            "after": row,
            "op": "u",
            "ts_ms": int(time.time() * 1000),
            "source": {"connector": "polydemo-breaking-event"},
        }
        topic = topics(self.settings.topic_prefix)["users"]
        self.clients.kafka.produce(topic, json.dumps({"id": u.id}).encode(), json.dumps(env).encode())
        return f"a users event for {u.email} without {', '.join(without)} sent to {topic}"

    # ------------------------------------------------------------------ control
    def resolve_broker(self, which: str) -> int:
        """A broker id: ``"2"``, or ``"leader-of users"``: the broker leading most of that topic's partitions."""
        from collections import Counter

        from polydemo.pipeline.events import topics

        if which.isdigit():
            return int(which)
        topic = topics(self.settings.topic_prefix)[which.removeprefix("leader-of ")]
        leaders = Counter(p.leader for p in self.clients.kafka.partition_states([topic]) if p.leader >= 0)
        if not leaders:
            raise RuntimeError(f"{topic} has no leader right now")
        return leaders.most_common(1)[0][0]

    def control(self, target: str, action: str) -> str:
        from polydemo.pipeline import connector, workers

        if target in READ_MODELS and action in ("add", "remove"):
            if action == "add":
                return f"projector {target}: {workers.add(self.settings, target)} (new consumer group, from offset 0)"
            return f"projector {target}: {workers.remove(self.settings, target, self.clients)}"
        if target in WORKER_TARGETS and action.startswith("scale:"):
            count = int(action.removeprefix("scale:"))
            changed = workers.scale(self.settings, target, count)
            done = ", ".join(f"#{i} {what}" for i, what in sorted(changed.items())) or "unchanged"
            return f"projector {target}: {count} instance{'s' if count > 1 else ''} ({done}); the group rebalances"
        if target in WORKER_TARGETS:
            if action == "stop":
                return f"projector {target}: {workers.stop(self.settings, target)}"
            if action == "kill":
                return f"projector {target}: {workers.kill(self.settings, target)} (SIGKILL)"
            if action == "start":
                return f"projector {target}: {workers.start(self.settings, target)}"
            return f"projector {target}: {_signal_worker(self.settings, target, action)}"
        if target == "connector":
            if action in ("stop", "pause"):
                connector.pause(self.settings)
                return "connector paused (changes wait in the replication slot)"
            if action == "kill":
                return f"Kafka Connect: {self.runtime.kill_service('connect')} (SIGKILL)"
            if action in ("start", "resume"):
                if self.runtime.status(["connect"])[0].state != "healthy":
                    self.runtime.start_service("connect")
                doc = connector.status(self.settings)
                if connector.states(doc)[0] == "PAUSED":
                    connector.resume(self.settings)
                connector.wait_running(self.settings, timeout=90)
                return "connector RUNNING"
        fn = {
            "stop": self.runtime.stop_service,
            "kill": self.runtime.kill_service,
            "start": self.runtime.start_service,
            "pause": self.runtime.pause_service,
            "resume": self.runtime.resume_service,
        }[action]
        outcome = fn(target)
        if target == "connect" and action == "start":
            connector.wait_running(self.settings, timeout=90)
            outcome += "; connector RUNNING"
        return f"{target}: {outcome}"


def _signal_worker(settings: Settings, name: str, action: str) -> str:
    import signal

    from polydemo import procs
    from polydemo.pipeline import workers

    proc = procs.alive(workers.pid_file(settings, name))
    if proc is None:
        return "not running"
    proc.send_signal(signal.SIGSTOP if action == "pause" else signal.SIGCONT)
    return "paused (SIGSTOP)" if action == "pause" else "resumed (SIGCONT)"
