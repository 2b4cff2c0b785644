"""The scenario schema (pydantic): a title, a description and a list of steps, each ``{kind: params}``.

Validation happens before anything runs; ``loader.py`` maps every error to file:line:column.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from polydemo.config import SERVICES

PROJECTORS = ("graph", "cache", "analytics", "relay")
TARGETS = (*SERVICES, *PROJECTORS, "connector")
READ_STORES = ("postgres", "redis", "neo4j")
TRACE_STORES = ("redis", "neo4j", "analytics")
METRICS = ("users", "follows", "posts", "graph_users", "graph_follows", "cache_profiles", "events",
           "post_events", "dualwrite_events", "lag")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _target(value: str) -> str:
    if value not in TARGETS:
        raise ValueError(f"unknown store or projector {value!r}; expected one of: {', '.join(TARGETS)}")
    return value


# ---------------------------------------------------------------- conditions

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


class UserCond(Strict):
    email: str
    store: Literal["postgres", "redis", "neo4j", "analytics"]
    present: bool = True
    name: str | None = None


class CountCond(Strict):
    of: str
    post: str | None = None
    type: str | None = None
    projector: str | None = None
    equals: int | None = None
    min: int | None = None
    max: int | None = None
    equals_metric: str | None = Field(None, description="another metric this one must equal (convergence)")

    @field_validator("of", "equals_metric")
    @classmethod
    def _m(cls, v: str | None) -> str | None:
        if v is not None and v not in METRICS:
            raise ValueError(f"unknown metric {v!r}; expected one of: {', '.join(METRICS)}")
        return v

    @model_validator(mode="after")
    def _one(self) -> "CountCond":
        if all(x is None for x in (self.equals, self.min, self.max, self.equals_metric)):
            raise ValueError("a count needs equals, min, max or equals_metric")
        return self


class ConnectorCond(Strict):
    state: Literal["RUNNING", "PAUSED", "FAILED", "UNASSIGNED", "UNREGISTERED"]


class ProjectorCond(Strict):
    name: str
    state: Literal["running", "retrying", "stopped", "paused"]

    @field_validator("name")
    @classmethod
    def _n(cls, v: str) -> str:
        if v not in PROJECTORS:
            raise ValueError(f"unknown projector {v!r}; expected one of: {', '.join(PROJECTORS)}")
        return v


class StalenessCond(Strict):
    store: Literal["redis", "neo4j", "analytics"]
    max_ms: float | None = None
    min_ms: float | None = None


class Condition(Strict):
    """Exactly one of the fields."""

    lag: LagCond | None = None
    user: UserCond | None = None
    count: CountCond | None = None
    connector: ConnectorCond | None = None
    projector: ProjectorCond | None = None
    staleness: StalenessCond | None = None
    converged: bool | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "Condition":
        set_ = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(set_) != 1:
            raise ValueError("a condition needs exactly one of: " + ", ".join(type(self).model_fields)
                             + (f" (got {', '.join(set_)})" if set_ else ""))
        return self


# ---------------------------------------------------------------- steps

class Say(Strict):
    kind: Literal["say"] = "say"
    text: str
    hold: float = 2.0


class Signup(Strict):
    kind: Literal["signup"] = "signup"
    email: str
    name: str
    password: str = "scenario-password"


class Follow(Strict):
    kind: Literal["follow", "unfollow"] = "follow"
    follower: str
    followee: str


class Post(Strict):
    kind: Literal["post"] = "post"
    id: str
    author: str
    title: str
    body: str = ""
    tags: list[str] = []
    mode: Literal["cdc", "dual-write"] = "cdc"
    crash_between: bool = False


class Like(Strict):
    kind: Literal["like"] = "like"
    post: str
    times: int = Field(1, ge=1, le=1000)


class Read(Strict):
    kind: Literal["read"] = "read"
    user: str
    from_: list[Literal["postgres", "redis", "neo4j"]] = Field(default_factory=lambda: list(READ_STORES), alias="from")

    @field_validator("from_", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class Control(Strict):
    kind: Literal["stop", "kill", "start", "pause", "resume"] = "stop"
    target: str

    @field_validator("target")
    @classmethod
    def _t(cls, v: str) -> str:
        return _target(v)


class WaitUntil(Strict):
    kind: Literal["wait_until"] = "wait_until"
    condition: Condition
    timeout: float = Field(30.0, gt=0, le=600)


class Expect(Strict):
    kind: Literal["expect"] = "expect"
    condition: Condition
    message: str | None = None


class Trace(Strict):
    kind: Literal["trace"] = "trace"
    user: str
    stores: list[Literal["redis", "neo4j", "analytics"]] = Field(default_factory=lambda: list(TRACE_STORES))
    timeout: float = Field(30.0, gt=0, le=600)


class Pause(Strict):
    """The presenter's pause (``--step`` mode); ``pause: <store or projector>`` is a Control instead."""

    kind: Literal["presenter_pause"] = "presenter_pause"
    prompt: str = "press Enter to continue"


class Load(Strict):
    kind: Literal["load"] = "load"
    signups: int = Field(..., ge=1, le=100_000)
    rate: float = Field(200.0, gt=0, le=20_000)
    prefix: str = "load"


class Sleep(Strict):
    kind: Literal["sleep"] = "sleep"
    seconds: float = Field(..., ge=0, le=600)


Step = Annotated[Union[Say, Signup, Follow, Post, Like, Read, Control, WaitUntil, Expect, Trace, Pause, Load, Sleep],
                 Field(discriminator="kind")]

STEP_KINDS = ("say", "signup", "follow", "unfollow", "post", "like", "read", "stop", "kill", "start", "pause",
              "resume", "wait_until", "expect", "trace", "load", "sleep")
# Short forms: `- say: "text"`, `- stop: graph`, `- sleep: 2`, `- pause: "prompt"`, `- expect: {lag: ...}`.
SCALAR_FIELD = {"say": "text", "stop": "target", "kill": "target", "start": "target", "resume": "target",
                "sleep": "seconds"}


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
        elif kind in SCALAR_FIELD:
            params = {SCALAR_FIELD[kind]: params, **extra}
    if kind == "pause":
        # `pause: graph` / `pause: {target: graph}` pause a process; any other text is the presenter's pause.
        if isinstance(params, dict):
            return {"kind": "pause", **params} if "target" in params else {"kind": "presenter_pause", **params}
        if params in TARGETS:
            return {"kind": "pause", "target": params}
        return {"kind": "presenter_pause", **({"prompt": params} if params is not None else {})}
    if kind in ("wait_until", "expect") and isinstance(params, dict):
        cond = {k: v for k, v in params.items() if k not in ("timeout", "message")}
        rest = {k: v for k, v in params.items() if k in ("timeout", "message")}
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
