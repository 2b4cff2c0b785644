"""Playing a scenario against the running stack: steps -> domain, runtime, pipeline; checks -> stores.

Repeatable: before the first step the runner removes what an earlier run of the same scenario
created (its sign-ups, load users and posts), so every run starts from the same state and ends
with the same counts. Whatever a scenario stopped, killed or paused is restarted when it ends,
fails or is interrupted (Ctrl-C).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from polydemo import load as load_lib
from polydemo import procs, reads
from polydemo.config import Settings
from polydemo.domain import posts, users
from polydemo.errors import PolydemoError
from polydemo.pipeline import connector, dualwrite, workers
from polydemo.runtime.base import Runtime
from polydemo.scenario import checks
from polydemo.scenario.loader import Loaded
from polydemo.scenario.model import (PROJECTORS, Control, Expect, Follow, Like, Load, Pause, Post, Read, Say, Signup,
                                     Sleep, Trace, WaitUntil)
from polydemo.stores import Stores


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


@dataclass
class RunResult:
    name: str
    title: str
    passed: bool = True
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def failures(self) -> list[StepResult]:
        return [s for s in self.steps if not s.ok]

    def as_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "passed": self.passed, "seconds": round(self.seconds, 2),
                "interrupted": self.interrupted, "steps": [asdict(s) for s in self.steps]}


class Presenter:
    """How a run is shown. The default shows nothing; the CLI passes a line or dashboard presenter."""

    def begin(self, loaded: Loaded) -> None: ...

    def step_started(self, index: int, step, line: int) -> None: ...

    def step_done(self, result: StepResult) -> None: ...

    def caption(self, text: str) -> None: ...

    def prompt(self, text: str) -> None: ...

    def end(self, result: RunResult) -> None: ...


def describe(step) -> str:
    """A one-line human description of a step (``scenario show`` and the run's lines)."""
    k = step.kind
    if isinstance(step, Say):
        return f'say "{step.text}"'
    if isinstance(step, Signup):
        return f"sign up {step.email} ({step.name})"
    if isinstance(step, Follow):
        return f"{step.follower} {k}s {step.followee}"
    if isinstance(step, Post):
        extra = " via dual write" + (", crashing between the writes" if step.crash_between else "") \
            if step.mode == "dual-write" else ""
        return f"post {step.id} by {step.author}: {step.title!r}{extra}"
    if isinstance(step, Like):
        return f"like {step.post}" + (f" x{step.times}" if step.times > 1 else "")
    if isinstance(step, Read):
        return f"read {step.user} from {', '.join(step.from_)}"
    if isinstance(step, Control):
        return f"{k} {step.target}"
    if isinstance(step, (WaitUntil, Expect)):
        c = step.condition
        what = next(f"{n} {getattr(c, n).model_dump(exclude_none=True) if hasattr(getattr(c, n), 'model_dump') else getattr(c, n)}"
                    for n in type(c).model_fields if getattr(c, n) is not None)
        return (f"wait until {what} (<= {step.timeout:.0f}s)" if isinstance(step, WaitUntil) else f"expect {what}")
    if isinstance(step, Trace):
        return f"trace {step.user} into {', '.join(step.stores)}"
    if isinstance(step, Pause):
        return f"presenter pause: {step.prompt}"
    if isinstance(step, Load):
        return f"load {step.signups} sign-ups at {step.rate:.0f}/s"
    if isinstance(step, Sleep):
        return f"sleep {step.seconds}s"
    return k


def estimate_seconds(loaded: Loaded) -> float:
    total = 0.0
    for s in loaded.scenario.steps:
        if isinstance(s, Say):
            total += s.hold
        elif isinstance(s, Sleep):
            total += s.seconds
        elif isinstance(s, Load):
            total += s.signups / s.rate
        elif isinstance(s, Control) and s.target in ("neo4j", "kafka", "connect") and s.kind == "start":
            total += 10
        else:
            total += 0.3
    return total


class Runner:
    def __init__(self, settings: Settings, runtime: Runtime, loaded: Loaded, presenter: Presenter | None = None,
                 speed: float = 1.0, step_mode: bool = False, wait_key: Callable[[str], None] | None = None):
        if speed <= 0:
            raise PolydemoError("--speed must be above 0", hint="1 is real time; 100 skips the pacing")
        self.settings = settings
        self.runtime = runtime
        self.loaded = loaded
        self.presenter = presenter or Presenter()
        self.speed = speed
        self.step_mode = step_mode
        self.wait_key = wait_key or (lambda prompt: input(f"{prompt} "))
        self.to_restore: dict[str, str] = {}
        self.commits: dict[str, float] = {}
        self.traces: dict[str, float] = {}
        self.clients = Stores(settings)  # one connection per store for the whole run

    # ------------------------------------------------------------------ public
    def run(self) -> RunResult:
        sc = self.loaded.scenario
        result = RunResult(self.loaded.name, sc.title)
        t0 = time.monotonic()
        self.presenter.begin(self.loaded)
        try:
            self.prepare()
            for i, step in enumerate(sc.steps):
                line = self.loaded.step_lines[i] if i < len(self.loaded.step_lines) else 0
                self.presenter.step_started(i, step, line)
                s0 = time.monotonic()
                try:
                    res = self.execute(i, step, line)
                except PolydemoError as exc:
                    res = StepResult(i, step.kind, line, False, exc.message, 0.0)
                except Exception as exc:  # noqa: BLE001 - a store error fails the step, never the tool
                    res = StepResult(i, step.kind, line, False, f"{type(exc).__name__}: {exc}"[:300], 0.0)
                res.seconds = time.monotonic() - s0
                result.steps.append(res)
                self.presenter.step_done(res)
                if not res.ok:
                    result.passed = False
                    break
        except KeyboardInterrupt:
            result.interrupted = True
            result.passed = False
        finally:
            self.restore()
            self.clients.close()
            result.seconds = time.monotonic() - t0
            self.presenter.end(result)
        return result

    # ------------------------------------------------------------------ preparation
    def prepare(self) -> None:
        """Remove what an earlier run of this scenario created; make sure the pipeline runs."""
        sc = self.loaded.scenario
        emails = [s.email.lower() for s in sc.steps if isinstance(s, Signup)]
        prefixes = [self._load_prefix(s) for s in sc.steps if isinstance(s, Load)]
        post_ids = [s.id for s in sc.steps if isinstance(s, Post)]
        stores = self.clients
        old_ids = stores.users.delete_users(emails=emails)
        for p in prefixes:
            old_ids += stores.users.delete_users(email_like=f"{p}-%@load.example")
        stores.posts.delete(post_ids)
        for name in workers.WORKERS:
            workers.start(self.settings, name)
        if connector.states(connector.status(self.settings))[0] == "PAUSED":
            connector.resume(self.settings)
        from polydemo.seed import wait_converged

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

    def _load_prefix(self, step: Load) -> str:
        return f"{self.loaded.name}-{step.prefix}"

    def restore(self) -> None:
        for target, action in list(self.to_restore.items()):
            try:
                self.control(target, action, remember=False)
            except Exception:  # noqa: BLE001 - best effort; status shows what is still down
                pass
        self.to_restore.clear()

    # ------------------------------------------------------------------ steps
    def pace(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)

    def execute(self, i: int, step, line: int) -> StepResult:
        ok = lambda msg: StepResult(i, step.kind, line, True, msg, 0.0)  # noqa: E731
        if isinstance(step, Say):
            self.presenter.caption(step.text)
            self.pace(step.hold)
            return ok(step.text)
        if isinstance(step, Signup):
            u = users.signup(self.settings, step.email, step.name, step.password)
            self.commits[step.email.lower()] = time.perf_counter()
            return ok(f"signed up {u.email} (id {u.id[:8]}) in Postgres")
        if isinstance(step, Follow):
            fn = users.follow if step.kind == "follow" else users.unfollow
            a, b, changed = fn(self.settings, step.follower, step.followee)
            return ok(f"{a.email} {step.kind}s {b.email}" + ("" if changed else " (no change)"))
        if isinstance(step, Post):
            return ok(self.post(step))
        if isinstance(step, Like):
            for _ in range(step.times):
                doc = posts.like_post(self.settings, step.post)
            return ok(f"{step.post} has {doc['meta']['likes']} likes")
        if isinstance(step, Read):
            results = reads.read_user(self.settings, step.user, step.from_)
            text = "; ".join(f"{r.store}: {r.name or '-'} ({r.verdict}"
                             f"{', lag ' + str(r.lag_messages) if r.lag_messages else ''})" for r in results)
            return ok(text)
        if isinstance(step, Control):
            return ok(self.control(step.target, step.kind))
        if isinstance(step, WaitUntil):
            deadline = time.monotonic() + step.timeout
            while True:
                out = checks.evaluate(self.settings, step.condition, self.traces, self.clients)
                if out.ok:
                    return ok(f"{out.expected}: {out.seen}")
                if time.monotonic() > deadline:
                    return StepResult(i, step.kind, line, False, f"timed out after {step.timeout:.0f}s",
                                      0.0, out.expected, out.seen)
                time.sleep(0.1)
        if isinstance(step, Expect):
            out = checks.evaluate(self.settings, step.condition, self.traces, self.clients)
            if out.ok:
                return ok(f"{out.expected}: {out.seen}")
            return StepResult(i, step.kind, line, False, step.message or "expectation failed", 0.0,
                              out.expected, out.seen)
        if isinstance(step, Trace):
            return self.trace(i, step, line)
        if isinstance(step, Pause):
            if self.step_mode:
                self.presenter.prompt(step.prompt)
                self.wait_key(step.prompt)
            return ok("continued" if self.step_mode else "skipped (not in --step mode)")
        if isinstance(step, Load):
            t0 = time.monotonic()
            ids = load_lib.signup_burst(self.settings, step.signups, self._load_prefix(step),
                                        batch=max(1, min(100, int(step.rate / 10) or 1)), rate=step.rate * self.speed
                                        if self.speed < 1 else step.rate)
            took = time.monotonic() - t0
            return ok(f"{len(ids)} sign-ups in {took:.1f}s ({len(ids) / took:.0f}/s)")
        if isinstance(step, Sleep):
            self.pace(step.seconds)
            return ok(f"slept {step.seconds / self.speed:.1f}s")
        raise PolydemoError(f"step kind {step.kind} is not implemented")

    def post(self, step: Post) -> str:
        author = users.require_user(self.settings, step.author)
        if step.mode == "dual-write" and step.crash_between:
            # The injected crash kills the process that writes, so it runs in a child process.
            code = dualwrite.create_post_crashing(self.settings, author.id, step.title, step.body, step.tags,
                                                  post_id=step.id)
            if code != dualwrite.CRASH_EXIT:
                raise PolydemoError(f"the dual-write writer exited {code}, not with the injected crash "
                                    f"({dualwrite.CRASH_EXIT})", hint="see the scenario's earlier steps")
            return f"{step.id} written to Mongo; the writer crashed before publishing (injected)"
        if step.mode == "dual-write":
            doc = dualwrite.create_post(self.settings, author.id, step.title, step.body, step.tags, post_id=step.id)
            return f"{doc['_id']} written to Mongo and published by the writer (dual write)"
        doc = posts.create_post(self.settings, author.id, step.title, step.body, step.tags, post_id=step.id)
        return f"{doc['_id']} written to Mongo; the relay publishes it"

    def trace(self, i: int, step: Trace, line: int) -> StepResult:
        email = step.user.lower()
        t0 = self.commits.get(email, time.perf_counter())
        pending, seen = set(step.stores), {}
        deadline = time.perf_counter() + step.timeout
        while pending and time.perf_counter() < deadline:
            for store in list(pending):
                if checks.user_name(self.settings, store, email, self.clients) is not None:
                    seen[store] = (time.perf_counter() - t0) * 1000
                    pending.discard(store)
            time.sleep(0.005)
        self.traces.update(seen)
        text = ", ".join(f"{s} +{ms:.0f} ms" for s, ms in sorted(seen.items(), key=lambda kv: kv[1]))
        if pending:
            return StepResult(i, step.kind, line, False, f"not visible in {', '.join(sorted(pending))} after "
                              f"{step.timeout:.0f}s", 0.0, f"{email} in {', '.join(step.stores)}", text or "nowhere")
        return StepResult(i, step.kind, line, True, f"Postgres commit -> {text}", 0.0)

    # ------------------------------------------------------------------ control
    RESTORE = {"stop": "start", "kill": "start", "pause": "resume"}

    def control(self, target: str, action: str, remember: bool = True) -> str:
        if remember and action in self.RESTORE:
            self.to_restore[target] = self.RESTORE[action]
        elif remember and action in ("start", "resume"):
            self.to_restore.pop(target, None)
        if target in PROJECTORS:
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
        fn = {"stop": self.runtime.stop_service, "kill": self.runtime.kill_service,
              "start": self.runtime.start_service, "pause": self.runtime.pause_service,
              "resume": self.runtime.resume_service}[action]
        outcome = fn(target)
        if target == "connect" and action == "start":
            connector.wait_running(self.settings, timeout=90)
            outcome += "; connector RUNNING"
        return f"{target}: {outcome}"


def _signal_worker(settings: Settings, name: str, action: str) -> str:
    import signal

    proc = procs.alive(workers.pid_file(settings, name))
    if proc is None:
        return "not running"
    proc.send_signal(signal.SIGSTOP if action == "pause" else signal.SIGCONT)
    return "paused (SIGSTOP)" if action == "pause" else "resumed (SIGCONT)"
