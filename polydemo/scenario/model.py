"""The scenario schema (pydantic): a title, a description and a list of steps, each ``{kind: params}``.

Validation happens before anything runs; ``loader.py`` maps every error to file:line:column.

One registry each for step kinds and conditions. A step kind is one class here, registered with
``@step``: its fields (the schema), ``describe()`` (``scenario show``), ``estimate()`` and ``run(ctx)``
(what the runner does; ``ctx`` is the :class:`polydemo.scenario.runner.ScenarioRunner`, whose ``actions`` and
``probe`` reach the stack). ``STEPS``, ``STEP_KINDS``, the short forms, the ``Step`` union and the
loader's tags all derive from the registry. A condition is likewise one class registered with
``@condition``: its fields and ``evaluate(probe, traces)``; the ``Condition`` model derives from it.
Adding a step kind or a condition touches one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol, TypeVar, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model, field_validator, model_validator

from polydemo.config import SERVICES

if TYPE_CHECKING:
    from polydemo.scenario.runner import ScenarioRunner

# The pipeline processes a step may stop, start, kill or scale (pipeline.workers.WORKERS: the three core
# projectors and the relay; a unit test keeps the two equal). Not "projectors": the relay is not one.
WORKER_TARGETS = ("graph", "cache", "analytics", "relay")
READ_MODELS = ("wtf",)  # optional projectors: `add_projector` / `remove_projector`
TARGETS = (*SERVICES, *WORKER_TARGETS, "connector")
ReadStore = Literal["postgres", "redis", "neo4j"]
TraceStore = Literal["redis", "neo4j", "analytics"]
READ_STORES: tuple[ReadStore, ...] = get_args(ReadStore)
TRACE_STORES: tuple[TraceStore, ...] = get_args(TraceStore)
METRICS = (
    "users",
    "follows",
    "posts",
    "graph_users",
    "graph_follows",
    "cache_profiles",
    "events",
    "post_events",
    "dualwrite_events",
    "dlq_events",
    "outbox_posts",
    "outbox_events",
    "lag",
    "audience_signups",  # people who joined the audience session open now (`polydemo web start --audience`)
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _target(value: str) -> str:
    if value not in TARGETS:
        raise ValueError(f"unknown store or projector {value!r}; expected one of: {', '.join(TARGETS)}")
    return value


class StepFailed(Exception):
    """Raised by a step's ``run``: the step failed, with what was expected and what was seen."""

    def __init__(self, message: str, expected: str | None = None, seen: str | None = None):
        super().__init__(message)
        self.message, self.expected, self.seen = message, expected, seen


# ---------------------------------------------------------------- conditions


@dataclass
class Outcome:
    ok: bool
    expected: str
    seen: str


class Probe(Protocol):
    """What a condition reads from the stack (``runner.StackProbe``; tests pass a stand-in)."""

    def metric(self, name: str, cond: CountCond | None = None) -> int: ...

    def lags(self) -> dict[str, int]: ...

    def user_name(self, store: str, email: str) -> str | None: ...

    def connector_states(self) -> tuple[str, list[str]]: ...

    def projector_state(self, name: str) -> tuple[str, str | None]: ...

    def bio(self, store: str, email: str) -> str | None: ...
    def who_to_follow(self) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]: ...

    def progress(self, name: str) -> tuple[int, int]: ...

    def owners(self, name: str) -> tuple[dict[str, int], int]: ...
    def partitions(self, topic: str) -> list[tuple[int, int, int]]: ...

    def waterfall(self, email: str, wait: float) -> dict | None:
        """``polydemo trace``'s waterfall of the user's latest change (``Trace.to_dict()``), or None."""
        ...


CONDITIONS: dict[str, type[BaseModel]] = {}
C = TypeVar("C", bound=type[BaseModel])


def condition(name: str) -> Callable[[C], C]:
    """Register a condition class under ``name`` (the key a scenario writes: ``expect: {name: ...}``)."""

    def register(cls: C) -> C:
        if name in CONDITIONS:
            raise ValueError(f"condition {name!r} registered twice")
        CONDITIONS[name] = cls
        return cls

    return register


def _cmp(value: int, cond: Any) -> tuple[bool, str]:
    parts, ok = [], True
    if getattr(cond, "equals", None) is not None:
        ok &= value == cond.equals
        parts.append(f"= {cond.equals}")
    if cond.min is not None:
        ok &= value >= cond.min
        parts.append(f">= {cond.min}")
    if cond.max is not None:
        ok &= value <= cond.max
        parts.append(f"<= {cond.max}")
    return ok, " and ".join(parts)


@condition("lag")
class LagCond(Strict):
    projector: str = "all"
    max: int | None = None
    min: int | None = None

    @field_validator("projector")
    @classmethod
    def _p(cls, v: str) -> str:
        if v not in ("all", "graph", "cache", "analytics"):
            raise ValueError(f"unknown projector {v!r}; expected graph, cache, analytics or all")
        return v

    def evaluate(self, probe: Probe, traces: Mapping[str, float]) -> Outcome:
        lags = probe.lags()
        value = sum(lags.values()) if self.projector == "all" else lags[self.projector]
        ok, exp = _cmp(value, self)
        return Outcome(ok, f"lag of {self.projector} {exp or 'known'}", f"lag {value} ({lags})")


@condition("user")
class UserCond(Strict):
    email: str
    store: Literal["postgres", "redis", "neo4j", "analytics"]
    present: bool = True
    name: str | None = None

    def evaluate(self, probe: Probe, traces: Mapping[str, float]) -> Outcome:
        name = probe.user_name(self.store, self.email)
        present = name is not None
        ok = present == self.present and (self.name is None or not present or name == self.name)
        exp = f"{self.email} {'in' if self.present else 'absent from'} {self.store}" + (
            f" named {self.name!r}" if self.name else ""
        )
        return Outcome(ok, exp, f"{'present as ' + repr(name) if present else 'absent'}")


@condition("count")
class CountCond(Strict):
    of: str
    post: str | None = None
    type: str | None = None
    projector: str | None = None
    reason: str | None = Field(None, description="dlq_events: only those whose reason contains this text")
    equals: int | None = None
    min: int | None = None
    max: int | None = None
    equals_metric: str | None = Field(None, description="another metric this one must equal (convergence)")
    below_metric: str | None = Field(None, description="another metric this one must be smaller than (behind)")

    @field_validator("of", "equals_metric", "below_metric")
    @classmethod
    def _m(cls, v: str | None) -> str | None:
        if v is not None and v not in METRICS:
            raise ValueError(f"unknown metric {v!r}; expected one of: {', '.join(METRICS)}")
        return v

    @model_validator(mode="after")
    def _one(self) -> CountCond:
        if all(x is None for x in (self.equals, self.min, self.max, self.equals_metric, self.below_metric)):
            raise ValueError("a count needs equals, min, max, equals_metric or below_metric")
        return self

    def evaluate(self, probe: Probe, traces: Mapping[str, float]) -> Outcome:
        value = probe.metric(self.of, self)
        ok, exp = _cmp(value, self)
        label = self.of + "".join(
            f" {k}={v}" for k, v in (("post", self.post), ("type", self.type), ("reason", self.reason)) if v
        )
        if self.equals_metric:
            other = probe.metric(self.equals_metric, self)
            ok &= value == other
            exp = (exp + " and " if exp else "") + f"= {self.equals_metric} ({other})"
        if self.below_metric:
            other = probe.metric(self.below_metric, self)
            ok &= value < other
            exp = (exp + " and " if exp else "") + f"< {self.below_metric} ({other})"
        return Outcome(ok, f"{label} {exp}", f"{label} = {value}")


@condition("connector")
class ConnectorCond(Strict):
    state: Literal["RUNNING", "PAUSED", "FAILED", "UNASSIGNED", "UNREGISTERED"]

    def evaluate(self, probe: Probe, traces: Mapping[str, float]) -> Outcome:
        state, tasks = probe.connector_states()
        seen = state if not tasks else f"{state} (tasks {', '.join(tasks)})"
        ok = state == self.state and (state != "RUNNING" or all(t == "RUNNING" for t in tasks))
        return Outcome(ok, f"connector {self.state}", seen)


@condition("projector")
class ProjectorCond(Strict):
    name: str
    state: Literal["running", "retrying", "stopped", "paused"]

    @field_validator("name")
    @classmethod
    def _n(cls, v: str) -> str:
        if v not in WORKER_TARGETS:
            raise ValueError(f"unknown projector {v!r}; expected one of: {', '.join(WORKER_TARGETS)}")
        return v

    def evaluate(self, probe: Probe, traces: Mapping[str, float]) -> Outcome:
        state, last_error = probe.projector_state(self.name)
        return Outcome(
            state == self.state,
            f"projector {self.name} {self.state}",
            f"{state}{(' (' + last_error + ')') if last_error else ''}",
        )


CDC_TOPICS = ("users", "follows", "posts")
NEEDS_CLUSTER = "needs `polydemo up --kafka-brokers 3` (this stack runs one Kafka broker)"


@condition("partitions")
class PartitionsCond(Strict):
    """``partitions: {topic: users, isr: 2}``: every partition of the topic has a leader and that many
    in-sync replicas (``isr_min`` / ``isr_max`` for a range); ``leader_not: killed`` also wants the leader to
    be another broker than the one the last ``kill_broker`` step killed."""

    topic: Literal["users", "follows", "posts"]
    isr: int | None = Field(None, ge=0, le=3)
    isr_min: int | None = Field(None, ge=0, le=3)
    isr_max: int | None = Field(None, ge=0, le=3)
    leader_not: Literal["killed"] | None = None

    def evaluate(self, probe: Probe, traces: Mapping[str, float]) -> Outcome:
        states = probe.partitions(self.topic)  # (partition, leader, isr size)
        killed = int(traces.get("killed_broker", -1))
        ok = bool(states)
        for _p, leader, isr in states:
            ok &= leader >= 0
            ok &= self.isr is None or isr == self.isr
            ok &= self.isr_min is None or isr >= self.isr_min
            ok &= self.isr_max is None or isr <= self.isr_max
            ok &= self.leader_not is None or leader != killed
        want = ", ".join(
            x
            for x in (
                f"isr {self.isr}" if self.isr is not None else "",
                f"isr >= {self.isr_min}" if self.isr_min is not None else "",
                f"isr <= {self.isr_max}" if self.isr_max is not None else "",
                f"leader not broker {killed}" if self.leader_not else "",
            )
            if x
        )
        seen = "; ".join(f"p{p} leader {leader} isr {isr}" for p, leader, isr in states) or "no partitions"
        return Outcome(ok, f"{self.topic}: a leader, {want}", seen)


@condition("staleness")
class StalenessCond(Strict):
    store: Literal["redis", "neo4j", "analytics"]
    max_ms: float | None = None
    min_ms: float | None = None

    def evaluate(self, probe: Probe, traces: Mapping[str, float]) -> Outcome:
        if self.store not in traces:
            return Outcome(False, f"a traced staleness for {self.store}", "no trace step measured it")
        value = traces[self.store]
        ok = (self.max_ms is None or value <= self.max_ms) and (self.min_ms is None or value >= self.min_ms)
        exp = " and ".join(
            x
            for x in (
                f"<= {self.max_ms} ms" if self.max_ms is not None else "",
                f">= {self.min_ms} ms" if self.min_ms is not None else "",
            )
            if x
        )
        return Outcome(ok, f"{self.store} staleness {exp}", f"{value:.0f} ms")


def _diff(view: Mapping[str, Mapping[str, int]], source: Mapping[str, Mapping[str, int]], n: int = 3) -> str:
    """The first few (user, candidate) pairs whose path count differs: ``u->c: view 2, source 1``."""
    pairs = sorted(
        (u, c)
        for u in set(view) | set(source)
        for c in set(view.get(u, {})) | set(source.get(u, {}))
        if view.get(u, {}).get(c) != source.get(u, {}).get(c)
    )
    return ", ".join(
        f"{u[:8]}->{c[:8]}: view {view.get(u, {}).get(c)}, source {source.get(u, {}).get(c)}" for u, c in pairs[:n]
    ) + (f" … ({len(pairs)} in all)" if len(pairs) > n else "")


@condition("who_to_follow")
class WhoToFollowCond(Strict):
    """``who_to_follow: {equals_source: true}``: the wtf read model (Redis) equals friends of friends computed
    in SQL on the system of record (``Users.who_to_follow``), every user, every candidate, every path count."""

    equals_source: bool = True

    def evaluate(self, probe: Probe, traces: Mapping[str, float]) -> Outcome:
        view, source = probe.who_to_follow()
        same = view == source
        pairs = sum(len(v) for v in source.values())
        exp = f"who to follow {'equals' if self.equals_source else 'differs from'} the SQL on Postgres follows"
        seen = (
            f"equal: {len(source)} users, {pairs} suggestions"
            if same
            else f"differs ({sum(len(v) for v in view.values())} vs {pairs} suggestions): {_diff(view, source)}"
        )
        return Outcome(same == self.equals_source, exp, seen)


SCALABLE = ("graph", "cache", "analytics")
MAX_INSTANCES = 6  # pipeline.workers.MAX_INSTANCES: the keyed topics' partitions


def _scalable(v: str) -> str:
    if v not in SCALABLE:
        raise ValueError(f"projector {v!r} cannot be scaled; expected one of: {', '.join(SCALABLE)}")
    return v


@condition("owners")
class OwnersCond(Strict):
    """``owners: {projector: graph, instances: 3}``: the projector's consumer group has exactly that many
    members owning partitions, and every partition of its topics has an owner (the rebalance is over)."""

    projector: str
    instances: int = Field(..., ge=1, le=MAX_INSTANCES)

    @field_validator("projector")
    @classmethod
    def _p(cls, v: str) -> str:
        return _scalable(v)

    def evaluate(self, probe: Probe, traces: Mapping[str, float]) -> Outcome:
        owners, partitions = probe.owners(self.projector)
        owned = sum(owners.values())
        ok = len(owners) == self.instances and owned == partitions
        shown = ", ".join(f"{k} {v}" for k, v in sorted(owners.items())) or "none"
        return Outcome(
            ok,
            f"{self.instances} instance(s) of {self.projector} owning all {partitions} partitions",
            f"owners: {shown} ({owned} of {partitions} partitions owned)",
        )


@condition("converged")
class Converged(RootModel[bool]):
    """``converged: true``: lag 0 and users/follows equal in every store (``false``: the opposite)."""

    def evaluate(self, probe: Probe, traces: Mapping[str, float]) -> Outcome:
        lags = probe.lags()
        counts = {m: probe.metric(m) for m in ("users", "graph_users", "cache_profiles", "follows", "graph_follows")}
        ok = (
            sum(lags.values()) == 0
            and counts["users"] == counts["graph_users"] == counts["cache_profiles"]
            and counts["follows"] == counts["graph_follows"]
        )
        seen = f"lag {lags}, counts {counts}"
        if self.root and not ok and sum(lags.values()) == 0:
            # nothing left to consume yet the stores differ: the changes never reached Kafka (a min-insync
            # run once ended so, unexplained); the connector's state is the first thing to know
            try:
                state, tasks = probe.connector_states()
                seen += f"; connector {state}" + (f" (tasks {', '.join(tasks)})" if tasks else "")
            except Exception as exc:  # noqa: BLE001 - a diagnostic only: Connect down (httpx) must not end the wait
                seen += f"; connector not readable: {exc}"
        return Outcome(
            ok == self.root,
            "converged (lag 0, users/follows equal in every store)" if self.root else "not converged",
            seen,
        )


@condition("bio")
class BioCond(Strict):
    """A user's bio as a store holds it (Postgres: ``about`` or ``bio``; Redis: the profile's ``bio``)."""

    email: str
    store: Literal["postgres", "redis"] = "redis"
    equals: str | None = None
    present: bool = True

    def evaluate(self, probe: Probe, traces: Mapping[str, float]) -> Outcome:
        bio = probe.bio(self.store, self.email)
        ok = (bio is not None) == self.present and (self.equals is None or not self.present or bio == self.equals)
        exp = f"{self.email}'s bio in {self.store}" + (
            f" = {self.equals!r}" if self.equals is not None else "" if self.present else " absent"
        )
        return Outcome(ok, exp, "absent" if bio is None else repr(bio))


class ConditionBase(Strict):
    """Exactly one of the registered conditions (``CONDITIONS``); the fields are derived from the registry."""

    @model_validator(mode="after")
    def _exactly_one(self) -> ConditionBase:
        set_ = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(set_) != 1:
            raise ValueError(
                "a condition needs exactly one of: "
                + ", ".join(type(self).model_fields)
                + (f" (got {', '.join(set_)})" if set_ else "")
            )
        return self

    def which(self) -> tuple[str, Any]:
        return next((n, getattr(self, n)) for n in type(self).model_fields if getattr(self, n) is not None)

    def describe(self) -> str:
        name, value = self.which()
        return f"{name} {value.model_dump(exclude_none=True)}"

    def evaluate(self, probe: Probe, traces: Mapping[str, float]) -> Outcome:
        return self.which()[1].evaluate(probe, traces)


if TYPE_CHECKING:
    Condition = ConditionBase
else:
    Condition = create_model(
        "Condition", __base__=ConditionBase, **{name: (cls | None, None) for name, cls in CONDITIONS.items()}
    )


# ---------------------------------------------------------------- steps


class StepModel(Strict):
    """A step kind: its fields, how it reads (``describe``), how long it takes (``estimate``) and what it does."""

    kind: str
    scalar: ClassVar[str | None] = None  # the field a short form fills: `- say: "text"`
    tag: ClassVar[bool] = True  # written as `- <kind>: ...` (False: only reached through another kind's form)

    def describe(self) -> str:
        return self.kind

    def estimate(self) -> float:
        return 0.3

    def run(self, ctx: ScenarioRunner) -> str:
        """Do the step; return the line to show, or raise StepFailed."""
        raise NotImplementedError(f"step kind {self.kind} is not implemented")


STEPS: dict[str, type[StepModel]] = {}
S = TypeVar("S", bound=type[StepModel])


def step(scalar: str | None = None, tag: bool = True) -> Callable[[S], S]:
    """Register a step class under every kind of its ``kind: Literal[...]`` field."""

    def register(cls: S) -> S:
        cls.scalar, cls.tag = scalar, tag
        for kind in get_args(cls.__pydantic_fields__["kind"].annotation):
            if kind in STEPS:
                raise ValueError(f"step kind {kind!r} registered twice")
            STEPS[kind] = cls
        return cls

    return register


@step(scalar="text")
class Say(StepModel):
    kind: Literal["say"] = "say"
    text: str
    hold: float = 2.0

    def describe(self) -> str:
        return f'say "{self.text}"'

    def estimate(self) -> float:
        return self.hold

    def run(self, ctx: ScenarioRunner) -> str:
        ctx.presenter.caption(self.text)
        ctx.pace(self.hold)
        return self.text


@step()
class Signup(StepModel):
    kind: Literal["signup"] = "signup"
    email: str
    name: str
    password: str = "scenario-password"

    def describe(self) -> str:
        return f"sign up {self.email} ({self.name})"

    def run(self, ctx: ScenarioRunner) -> str:
        u = ctx.actions.signup(self.email, self.name, self.password)
        ctx.commits[self.email.lower()] = ctx.clock()
        return f"signed up {u.email} (id {u.id[:8]}) in Postgres"


@step()
class Follow(StepModel):
    kind: Literal["follow", "unfollow"] = "follow"
    follower: str
    followee: str

    def describe(self) -> str:
        return f"{self.follower} {self.kind}s {self.followee}"

    def run(self, ctx: ScenarioRunner) -> str:
        fn = ctx.actions.follow if self.kind == "follow" else ctx.actions.unfollow
        a, b, changed = fn(self.follower, self.followee)
        return f"{a.email} {self.kind}s {b.email}" + ("" if changed else " (no change)")


@step()
class Post(StepModel):
    kind: Literal["post"] = "post"
    id: str
    author: str
    title: str
    body: str = ""
    tags: list[str] = []
    mode: Literal["cdc", "dual-write", "outbox"] = "cdc"
    crash_between: bool = False

    def describe(self) -> str:
        extra = ""
        if self.mode == "dual-write":
            extra = " via dual write" + (", crashing between the writes" if self.crash_between else "")
        elif self.mode == "outbox":
            extra = " via the Postgres outbox" + (", killed before COMMIT" if self.crash_between else "")
        return f"post {self.id} by {self.author}: {self.title!r}{extra}"

    def run(self, ctx: ScenarioRunner) -> str:
        return ctx.actions.post(self)


@step()
class Like(StepModel):
    kind: Literal["like"] = "like"
    post: str
    times: int = Field(1, ge=1, le=1000)

    def describe(self) -> str:
        return f"like {self.post}" + (f" x{self.times}" if self.times > 1 else "")

    def run(self, ctx: ScenarioRunner) -> str:
        for _ in range(self.times):
            doc = ctx.actions.like(self.post)
        return f"{self.post} has {doc['meta']['likes']} likes"


@step()
class Read(StepModel):
    kind: Literal["read"] = "read"
    user: str
    from_: list[ReadStore] = Field(default_factory=lambda: list(READ_STORES), alias="from")

    @field_validator("from_", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    def describe(self) -> str:
        return f"read {self.user} from {', '.join(self.from_)}"

    def run(self, ctx: ScenarioRunner) -> str:
        results = ctx.actions.read(self.user, list(self.from_))
        return "; ".join(
            f"{r.store}: {r.name or '-'} ({r.verdict}{', lag ' + str(r.lag_messages) if r.lag_messages else ''})"
            for r in results
        )


@step(scalar="target")
class Control(StepModel):
    kind: Literal["stop", "kill", "start", "pause", "resume"] = "stop"
    target: str

    @field_validator("target")
    @classmethod
    def _t(cls, v: str) -> str:
        return _target(v)

    def describe(self) -> str:
        return f"{self.kind} {self.target}"

    def estimate(self) -> float:
        return 10.0 if self.target in ("neo4j", "kafka", "connect") and self.kind == "start" else 0.3

    def run(self, ctx: ScenarioRunner) -> str:
        return ctx.control(self.target, self.kind)


@step(scalar="broker")
class KillBroker(StepModel):
    """``kill_broker: leader-of users`` SIGKILLs the broker that leads most of that topic's partitions
    (``kill_broker: 2``: that broker); ``start_broker: killed`` (or an id) starts it again. Cluster mode only:
    on one broker the step fails with the one line that says so."""

    kind: Literal["kill_broker", "start_broker"] = "kill_broker"
    broker: str

    @field_validator("broker")
    @classmethod
    def _b(cls, v: str | int) -> str:
        v = str(v)
        ok = v in ("1", "2", "3", "killed", "all-killed") or (
            v.startswith("leader-of ") and v.removeprefix("leader-of ") in CDC_TOPICS
        )
        if not ok:
            raise ValueError(
                f"unknown broker {v!r}; expected 1, 2, 3, `leader-of users|follows|posts`, or `killed` / "
                "`all-killed` (start_broker: the one the last kill_broker killed, or every one killed)"
            )
        return v

    def describe(self) -> str:
        return f"{self.kind} {self.broker}"

    def estimate(self) -> float:
        return 12.0 if self.kind == "start_broker" else 0.5

    def run(self, ctx: ScenarioRunner) -> str:
        if not ctx.settings.cluster:
            raise StepFailed(f"{self.kind} {NEEDS_CLUSTER}")
        killed = ctx.killed_brokers
        if self.kind == "kill_broker":
            node = ctx.actions.resolve_broker(self.broker)
            outcome = ctx.control(ctx.settings.broker_service(node), "kill")
            killed.append(node)
            ctx.traces["killed_broker"] = node
            return f"broker {node} ({outcome}, SIGKILL)"
        if self.broker == "all-killed":
            nodes = list(killed)
        elif self.broker == "killed":
            nodes = killed[-1:]
        else:
            nodes = [int(self.broker)]
        if not nodes:
            raise StepFailed("start_broker: no broker was killed by this scenario")
        lines = []
        for node in nodes:
            lines.append(f"broker {node}: {ctx.control(ctx.settings.broker_service(node), 'start')}")
            if node in killed:
                killed.remove(node)
        return "; ".join(lines)


@step(scalar="name")
class ReadModel(StepModel):
    """``add_projector: wtf`` starts an optional read model (it fills from history, then live; removed again
    when the scenario ends); ``remove_projector: wtf`` stops it and deletes its group and keys."""

    kind: Literal["add_projector", "remove_projector"] = "add_projector"
    name: str

    @field_validator("name")
    @classmethod
    def _n(cls, v: str) -> str:
        if v not in READ_MODELS:
            raise ValueError(f"unknown optional projector {v!r}; expected one of: {', '.join(READ_MODELS)}")
        return v

    def describe(self) -> str:
        return f"{'add' if self.kind == 'add_projector' else 'remove'} projector {self.name}"

    def run(self, ctx: ScenarioRunner) -> str:
        if self.kind == "add_projector":
            ctx.added[self.name] = ctx.clock()
        return ctx.control(self.name, "add" if self.kind == "add_projector" else "remove")


@step(scalar="projector")
class CatchUp(StepModel):
    """``catch_up: wtf``: narrate a projector filling from history, committed offset against the high
    watermark and rows/s, until its lag is 0 (fails after ``timeout``)."""

    kind: Literal["catch_up"] = "catch_up"
    projector: str
    timeout: float = Field(60.0, gt=0, le=600)

    def describe(self) -> str:
        return f"watch {self.projector} catch up (<= {self.timeout:.0f}s)"

    def estimate(self) -> float:
        return 2.0

    def run(self, ctx: ScenarioRunner) -> str:
        t0 = ctx.added.get(self.projector)
        start = 0  # a group added by this run starts at offset 0
        if t0 is None:
            t0 = ctx.clock()
            start, _ = ctx.probe.progress(self.projector)
        last_said = ctx.clock()
        while True:
            done, high = ctx.probe.progress(self.projector)
            now = ctx.clock()
            rate = (done - start) / max(now - t0, 1e-3)
            line = f"{self.projector}: committed {done:,} of {high:,} ({rate:,.0f} rows/s)"
            if high > 0 and done >= high:
                return (
                    f"caught up: {done - start:,} change(s) replayed, committed {done:,} = high watermark, "
                    f"{now - t0:.2f}s after it was added ({rate:,.0f} rows/s, process start-up included)"
                )
            if now - t0 > self.timeout:
                raise StepFailed(f"did not catch up in {self.timeout:.0f}s", f"committed = {high:,}", line)
            if now - last_said >= 0.5:
                ctx.presenter.caption(line)
                last_said = now
            ctx.sleep(0.05)


@step()
class WaitUntil(StepModel):
    kind: Literal["wait_until"] = "wait_until"
    condition: Condition
    timeout: float = Field(30.0, gt=0, le=600)

    def describe(self) -> str:
        return f"wait until {self.condition.describe()} (<= {self.timeout:.0f}s)"

    def run(self, ctx: ScenarioRunner) -> str:
        deadline = ctx.clock() + self.timeout
        while True:
            try:
                out = self.condition.evaluate(ctx.probe, ctx.traces)
            except Exception as exc:  # noqa: BLE001 - a store that cannot answer yet (a broker failover) is "not yet"
                out = Outcome(False, self.condition.describe(), f"{type(exc).__name__}: {str(exc)[:200]}")
            if out.ok:
                return f"{out.expected}: {out.seen}"
            if ctx.clock() > deadline:
                raise StepFailed(f"timed out after {self.timeout:.0f}s", out.expected, out.seen)
            ctx.sleep(0.1)


@step()
class Expect(StepModel):
    kind: Literal["expect"] = "expect"
    condition: Condition
    message: str | None = None

    def describe(self) -> str:
        return f"expect {self.condition.describe()}"

    def run(self, ctx: ScenarioRunner) -> str:
        out = self.condition.evaluate(ctx.probe, ctx.traces)
        if out.ok:
            return f"{out.expected}: {out.seen}"
        raise StepFailed(self.message or "expectation failed", out.expected, out.seen)


@step()
class Trace(StepModel):
    kind: Literal["trace"] = "trace"
    user: str
    stores: list[TraceStore] = Field(default_factory=lambda: list(TRACE_STORES))
    timeout: float = Field(30.0, gt=0, le=600)

    def describe(self) -> str:
        return f"trace {self.user} into {', '.join(self.stores)}"

    def run(self, ctx: ScenarioRunner) -> str:
        email = self.user.lower()
        t0 = ctx.commits.get(email, ctx.clock())
        pending: set[str] = set(self.stores)
        seen: dict[str, float] = {}
        deadline = ctx.clock() + self.timeout
        while pending and ctx.clock() < deadline:
            for store in list(pending):
                if ctx.probe.user_name(store, email) is not None:
                    seen[store] = (ctx.clock() - t0) * 1000
                    pending.discard(store)
            if pending:
                ctx.sleep(0.005)
        ctx.traces.update(seen)
        text = ", ".join(f"{s} +{ms:.0f} ms" for s, ms in sorted(seen.items(), key=lambda kv: kv[1]))
        if pending:
            raise StepFailed(
                f"not visible in {', '.join(sorted(pending))} after {self.timeout:.0f}s",
                f"{email} in {', '.join(self.stores)}",
                text or "nowhere",
            )
        # The same waterfall as `polydemo trace`, hop by hop from the projectors' own records (the
        # presenter draws it in the scenario panel); the projectors write them every 0.5 s.
        ctx.step_trace = ctx.probe.waterfall(email, min(5.0, max(1.0, deadline - ctx.clock())))
        return f"Postgres commit -> {text}"


@step(tag=False)
class Pause(StepModel):
    """The presenter's pause (``--step`` mode); ``pause: <store or projector>`` is a Control instead."""

    kind: Literal["presenter_pause"] = "presenter_pause"
    prompt: str = "press Enter to continue"

    def describe(self) -> str:
        return f"presenter pause: {self.prompt}"

    def run(self, ctx: ScenarioRunner) -> str:
        if ctx.step_mode:
            ctx.presenter.prompt(self.prompt)
            ctx.wait_key(self.prompt)
        return "continued" if ctx.step_mode else "skipped (not in --step mode)"


@step()
class Load(StepModel):
    kind: Literal["load"] = "load"
    signups: int = Field(..., ge=1, le=100_000)
    rate: float = Field(200.0, gt=0, le=20_000)
    prefix: str = "load"

    def describe(self) -> str:
        return f"load {self.signups} sign-ups at {self.rate:.0f}/s"

    def estimate(self) -> float:
        return self.signups / self.rate

    def run(self, ctx: ScenarioRunner) -> str:
        t0 = ctx.clock()
        ids = ctx.actions.load(
            self.signups,
            ctx.load_prefix(self),
            batch=max(1, min(100, int(self.rate / 10) or 1)),
            rate=self.rate * ctx.speed if ctx.speed < 1 else self.rate,
        )
        took = max(ctx.clock() - t0, 1e-3)
        return f"{len(ids)} sign-ups in {took:.1f}s ({len(ids) / took:.0f}/s)"


@step(scalar="seconds")
class Sleep(StepModel):
    kind: Literal["sleep"] = "sleep"
    seconds: float = Field(..., ge=0, le=600)

    def describe(self) -> str:
        return f"sleep {self.seconds}s"

    def estimate(self) -> float:
        return self.seconds

    def run(self, ctx: ScenarioRunner) -> str:
        ctx.pace(self.seconds)
        return f"slept {self.seconds / ctx.speed:.1f}s"


# ---------------------------------------------------------------- the schema-change story
# Named DDL steps on an allow-list (``stores.postgres.STORY_COLUMNS``/``STORY_TYPES``), never SQL from YAML.

STORY_TABLES = ("users",)
STORY_COLUMNS = ("bio", "about")
STORY_TYPES = ("text", "varchar(500)")


def _story_column(v: str) -> str:
    if v not in STORY_COLUMNS:
        raise ValueError(f"column {v!r} is not open to schema changes; expected one of: {', '.join(STORY_COLUMNS)}")
    return v


class _Ddl(StepModel):
    table: Literal["users"] = "users"

    @field_validator("table", mode="before")
    @classmethod
    def _tbl(cls, v: Any) -> Any:
        if v not in STORY_TABLES:
            raise ValueError(f"table {v!r} is not open to schema changes; expected one of: {', '.join(STORY_TABLES)}")
        return v


@step()
class AddColumn(_Ddl):
    kind: Literal["add_column"] = "add_column"
    column: str
    type: Literal["text", "varchar(500)"] = "text"
    during_load: int = Field(0, ge=0, le=10_000, description="sign-ups running while the ALTER TABLE happens")
    rate: float = Field(200.0, gt=0, le=20_000)
    prefix: str = "schema"

    @field_validator("column")
    @classmethod
    def _col(cls, v: str) -> str:
        return _story_column(v)

    def describe(self) -> str:
        extra = f" during {self.during_load} sign-ups" if self.during_load else ""
        return f"ALTER TABLE {self.table} ADD COLUMN {self.column} {self.type.upper()}{extra}"

    def estimate(self) -> float:
        return self.during_load / self.rate if self.during_load else 0.3

    def run(self, ctx: ScenarioRunner) -> str:
        return ctx.actions.add_column(self, ctx.load_prefix(self) if self.during_load else "")


@step()
class DropColumn(_Ddl):
    kind: Literal["drop_column"] = "drop_column"
    column: str

    @field_validator("column")
    @classmethod
    def _col(cls, v: str) -> str:
        return _story_column(v)

    def describe(self) -> str:
        return f"ALTER TABLE {self.table} DROP COLUMN {self.column}"

    def run(self, ctx: ScenarioRunner) -> str:
        return ctx.actions.drop_column(self.table, self.column)


@step()
class Backfill(_Ddl):
    kind: Literal["backfill"] = "backfill"
    from_: str = Field(..., alias="from")
    to: str

    @field_validator("from_", "to")
    @classmethod
    def _col(cls, v: str) -> str:
        return _story_column(v)

    @model_validator(mode="after")
    def _differ(self) -> Backfill:
        if self.from_ == self.to:
            raise ValueError("backfill needs two different columns")
        return self

    def describe(self) -> str:
        return f"backfill {self.table}.{self.to} from {self.from_}"

    def run(self, ctx: ScenarioRunner) -> str:
        return ctx.actions.backfill(self.table, self.from_, self.to)


@step()
class UpdateProfile(StepModel):
    kind: Literal["update_profile"] = "update_profile"
    user: str
    name: str | None = None
    bio: str | None = None

    @model_validator(mode="after")
    def _something(self) -> UpdateProfile:
        if self.name is None and self.bio is None:
            raise ValueError("update_profile needs a name or a bio")
        return self

    def describe(self) -> str:
        parts = [f"name {self.name!r}" if self.name is not None else "", f"bio {self.bio!r}" if self.bio else ""]
        return f"update {self.user}'s profile: " + ", ".join(p for p in parts if p)

    def run(self, ctx: ScenarioRunner) -> str:
        return ctx.actions.update_profile(self.user, self.name, self.bio)


@step()
class Rename(StepModel):
    """``rename: {user, name, times, rate}``: rename one user ``times`` times, ``"<name> 1"`` to
    ``"<name> <times>"``, at ``rate`` per second: many changes to one key, to show its order holds."""

    kind: Literal["rename"] = "rename"
    user: str
    name: str = Field(..., min_length=1, max_length=180)
    times: int = Field(..., ge=1, le=10_000)
    rate: float = Field(100.0, gt=0, le=2_000)

    def describe(self) -> str:
        return f"rename {self.user} {self.times} times ({self.name} 1 … {self.name} {self.times}) at {self.rate:.0f}/s"

    def estimate(self) -> float:
        return self.times / self.rate

    def run(self, ctx: ScenarioRunner) -> str:
        t0 = ctx.clock()
        for i in range(1, self.times + 1):
            ctx.actions.update_profile(self.user, f"{self.name} {i}", None)
            ahead = t0 + i / self.rate - ctx.clock()
            if ahead > 0:
                ctx.sleep(ahead)
        took = max(ctx.clock() - t0, 1e-3)
        return f"{self.times} renames in {took:.1f}s, the last {self.name} {self.times}"


@step()
class ScaleProjector(StepModel):
    """``scale_projector: {name, instances}``: run that many instances of a projector in its consumer group
    (``polydemo projector scale``); Kafka moves partitions between them. Scaled back to one when the
    scenario ends."""

    kind: Literal["scale_projector"] = "scale_projector"
    name: str
    instances: int = Field(..., ge=1, le=MAX_INSTANCES)

    @field_validator("name")
    @classmethod
    def _n(cls, v: str) -> str:
        return _scalable(v)

    def describe(self) -> str:
        return f"scale projector {self.name} to {self.instances} instance{'s' if self.instances > 1 else ''}"

    def estimate(self) -> float:
        return 1.0

    def run(self, ctx: ScenarioRunner) -> str:
        return ctx.control(self.name, f"scale:{self.instances}")


@step()
class Schema(StepModel):
    """The columns the change events on a topic carry now (the converter embeds no schema), and the diff
    with the previous ``schema`` step of the run; ``has``/``lacks`` make it a check (waited for)."""

    kind: Literal["schema"] = "schema"
    topic: Literal["users"] = "users"
    has: list[str] = []
    lacks: list[str] = []
    timeout: float = Field(30.0, gt=0, le=600)

    def describe(self) -> str:
        return (
            f"the fields of the {self.topic} change events"
            + (f" (with {', '.join(self.has)})" if self.has else "")
            + (f" (without {', '.join(self.lacks)})" if self.lacks else "")
        )

    def run(self, ctx: ScenarioRunner) -> str:
        deadline = ctx.clock() + self.timeout
        while True:
            fields = ctx.actions.event_fields(self.topic)
            ok = set(self.has) <= set(fields) and not set(self.lacks) & set(fields)
            if ok or ctx.clock() > deadline:
                break
            ctx.sleep(0.2)
        before = ctx.schemas.get(self.topic)
        ctx.schemas[self.topic] = fields
        text = f"{self.topic} events carry: {', '.join(fields) or '(none yet)'}"
        if before is not None:
            added, gone = sorted(set(fields) - set(before)), sorted(set(before) - set(fields))
            diff = ", ".join([*(f"+{f}" for f in added), *(f"-{f}" for f in gone)]) or "no change"
            text += f"; since the last look: {diff}"
        if not ok:
            raise StepFailed(
                f"the events did not change within {self.timeout:.0f}s",
                " and ".join(
                    x
                    for x in (f"with {self.has}" if self.has else "", f"without {self.lacks}" if self.lacks else "")
                    if x
                ),
                text,
            )
        return text


@step()
class BreakingEvent(StepModel):
    """A users change event with fields missing (say ``id``), as a broken upstream would send it: it must go to
    the DLQ with its reason while the projectors keep running."""

    kind: Literal["breaking_event"] = "breaking_event"
    user: str
    without: list[str] = Field(default_factory=lambda: ["id"], min_length=1)

    def describe(self) -> str:
        return f"send a users event for {self.user} without {', '.join(self.without)}"

    def run(self, ctx: ScenarioRunner) -> str:
        return ctx.actions.breaking_event(self.user, list(self.without))


# Derived from the registry: the kinds a scenario can write, and their short forms.
STEP_KINDS = tuple(k for k, cls in STEPS.items() if cls.tag)
SCALAR_FIELD = {k: cls.scalar for k, cls in STEPS.items() if cls.tag and cls.scalar}
if TYPE_CHECKING:
    Step = StepModel
else:
    Step = Annotated[Union[tuple(dict.fromkeys(STEPS.values()))], Field(discriminator="kind")]  # noqa: UP007


def normalise_step(raw: Any) -> Any:
    """``{kind: params}`` -> ``{"kind": kind, **params}`` (the loader reports the shape errors)."""
    if not isinstance(raw, dict) or not raw:
        return raw
    kind = next((k for k in raw if k in STEP_KINDS), next(iter(raw)))
    params = raw[kind]
    extra = {k: v for k, v in raw.items() if k != kind}  # `- say: "text"` with `hold: 5` beside it
    if kind not in STEP_KINDS:
        return {"kind": kind}
    if extra:
        if isinstance(params, dict):
            params = {**params, **extra}
        elif kind in SCALAR_FIELD and kind != "pause":  # `pause: <text>` may be the presenter's pause, below
            params = {SCALAR_FIELD[kind]: params, **extra}
    if kind == "pause":
        # `pause: graph` / `pause: {target: graph}` pause a process; any other text is the presenter's pause.
        if isinstance(params, dict):
            return {"kind": "pause", **params} if "target" in params else {"kind": "presenter_pause", **params}
        if params in TARGETS:
            return {"kind": "pause", "target": params}
        return {"kind": "presenter_pause", **({"prompt": params} if params is not None else {})}
    fields = STEPS[kind].model_fields
    if "condition" in fields and isinstance(params, dict):
        # `- expect: {count: {...}, message: ...}`: the condition sits directly under the kind.
        rest = {k: v for k, v in params.items() if k in fields and k not in ("kind", "condition")}
        cond = {k: v for k, v in params.items() if k not in rest}
        return {"kind": kind, "condition": cond, **rest}
    if not isinstance(params, dict):
        if kind in SCALAR_FIELD:
            return {"kind": kind, SCALAR_FIELD[kind]: params}
        return {"kind": kind, "_value": params}
    return {"kind": kind, **params}


class Scenario(Strict):
    title: str
    description: str = ""
    steps: list[Step] = Field(..., min_length=1)

    @field_validator("steps", mode="before")
    @classmethod
    def _norm(cls, v: Any) -> Any:
        return [normalise_step(s) for s in v] if isinstance(v, list) else v
