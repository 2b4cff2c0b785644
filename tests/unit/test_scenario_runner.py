"""The scenario runner without servers: it is given its collaborators (actions, probe, clock, sleep).

The stand-ins record what the runner asks for and answer from a small script; the real stack is
exercised by tests/integration/test_scenarios.py.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from polydemo.config import Settings
from polydemo.errors import PolydemoError
from polydemo.scenario import loader, model
from polydemo.scenario.runner import Presenter, ScenarioRunner


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Actions:
    """Records every call; ``fail`` maps a method name to the exception it raises."""

    def __init__(self, fail: dict | None = None):
        self.calls: list[tuple] = []
        self.fail = fail or {}

    def _rec(self, name, *args):
        self.calls.append((name, *args))
        if name in self.fail:
            raise self.fail[name]

    def prepare(self, loaded, load_prefixes):
        self._rec("prepare", loaded.name, tuple(load_prefixes))

    def signup(self, email, name, password):
        self._rec("signup", email)
        return SimpleNamespace(email=email, id="0123456789abcdef")

    def follow(self, a, b):
        self._rec("follow", a, b)
        return SimpleNamespace(email=a), SimpleNamespace(email=b), True

    def unfollow(self, a, b):
        self._rec("unfollow", a, b)
        return SimpleNamespace(email=a), SimpleNamespace(email=b), False

    def post(self, step):
        self._rec("post", step.id)
        return f"{step.id} written"

    def like(self, post_id):
        self._rec("like", post_id)
        return {"meta": {"likes": 1}}

    def read(self, user, stores):
        self._rec("read", user, tuple(stores))
        return []

    def load(self, signups, prefix, batch, rate):
        self._rec("load", signups, prefix, batch, rate)
        return list(range(signups))

    def control(self, target, action):
        self._rec("control", target, action)
        return f"{target}: {action}"

    def close(self):
        self.calls.append(("close",))


class Probe:
    def __init__(self, metrics: dict | None = None, names: dict | None = None):
        self.metrics = metrics or {}
        self.names = names or {}  # (store, email) -> name, or a list of answers, one per poll
        self.waterfalls: dict[str, dict] = {}  # email -> a recorded Trace.to_dict() for the trace step

    def metric(self, name, cond=None):
        return self.metrics[name]

    def lags(self):
        return {"graph": 0, "cache": 0, "analytics": 0}

    def user_name(self, store, email):
        v = self.names.get((store, email))
        return v.pop(0) if isinstance(v, list) else v

    def connector_states(self):
        return "RUNNING", ["RUNNING"]

    def projector_state(self, name):
        return "running", None

    def owners(self, name):
        return self.metrics.get("owners", ({"graph#1": 6, "graph#2": 6}, 12))

    def waterfall(self, email, wait):
        return self.waterfalls.get(email)


class Recorder(Presenter):
    def __init__(self):
        self.events: list[tuple] = []

    def step_started(self, index, step, line):
        self.events.append(("started", index, step.kind, line))

    def caption(self, text):
        self.events.append(("caption", text))

    def end(self, result):
        self.events.append(("end", result.passed))


def scenario(text: str) -> loader.Loaded:
    return loader.parse(text, Path("drill.yaml"))


def make(text: str, actions=None, probe=None, speed: float = 1.0, **kw):
    clock = FakeClock()
    actions = actions or Actions()
    presenter = Recorder()
    runner = ScenarioRunner(
        Settings.from_env(home="/nonexistent-polydemo-home"),
        None,
        scenario(text),
        presenter=presenter,
        speed=speed,
        actions=actions,
        probe=probe or Probe(),
        clock=clock,
        sleep=clock.sleep,
        **kw,
    )
    return runner, actions, clock, presenter


def test_steps_run_in_order_after_prepare_and_lines_are_kept():
    runner, actions, _, presenter = make(
        "title: t\n"
        "steps:\n"
        "  - signup: {email: A@x.org, name: A}\n"
        "  - follow: {follower: a@x.org, followee: b@x.org}\n"
        "  - post: {id: p1, author: a@x.org, title: T}\n"
        "  - like: {post: p1}\n"
        "  - load: {signups: 3, rate: 50}\n"
    )
    result = runner.run()
    assert result.passed, result.failures
    assert [c[0] for c in actions.calls] == ["prepare", "signup", "follow", "post", "like", "load", "close"]
    assert actions.calls[0] == ("prepare", "drill", ("drill-load",))
    assert actions.calls[5] == ("load", 3, "drill-load", 5, 50.0)
    assert [e[3] for e in presenter.events if e[0] == "started"] == [3, 4, 5, 6, 7]
    assert [s.line for s in result.steps] == [3, 4, 5, 6, 7]
    assert presenter.events[-1] == ("end", True)


def test_a_false_expectation_fails_at_its_line_with_expected_and_seen_and_stops_the_run():
    runner, actions, _, _ = make(
        "title: t\nsteps:\n  - say: hi\n"
        "  - expect: {count: {of: posts, post: p9, equals: 1}, message: the post should exist}\n"
        "  - signup: {email: never@x.org, name: N}\n",
        probe=Probe(metrics={"posts": 0}),
    )
    result = runner.run()
    assert not result.passed and len(result.steps) == 2
    [f] = result.failures
    assert (f.index, f.kind, f.line, f.message) == (1, "expect", 4, "the post should exist")
    assert f.expected == "posts post=p9 = 1" and f.seen == "posts post=p9 = 0"
    assert "signup" not in [c[0] for c in actions.calls]


def test_a_store_error_fails_the_step_not_the_tool():
    actions = Actions(fail={"signup": ConnectionError("postgres is down")})
    runner, _, _, _ = make("title: t\nsteps:\n  - signup: {email: a@x.org, name: A}\n", actions=actions)
    result = runner.run()
    assert result.failures[0].message == "ConnectionError: postgres is down"
    actions = Actions(fail={"signup": PolydemoError("a@x.org is already registered")})
    result = make("title: t\nsteps:\n  - signup: {email: a@x.org, name: A}\n", actions=actions)[0].run()
    assert result.failures[0].message == "a@x.org is already registered"


STOPPING = (
    "title: t\nsteps:\n  - stop: graph\n  - kill: neo4j\n  - pause: kafka\n  - start: neo4j\n"
    "  - signup: {email: a@x.org, name: A}\n"
)


def restarts(actions: Actions) -> list[tuple]:
    calls = [c for c in actions.calls if c[0] == "control"]
    return calls[calls.index(("control", "kafka", "pause")) + 2 :]


def test_what_was_stopped_is_restored_at_the_end_and_what_was_started_again_is_not():
    runner, actions, _, _ = make(STOPPING)
    assert runner.run().passed
    assert restarts(actions) == [("control", "graph", "start"), ("control", "kafka", "resume")]
    assert actions.calls[-1] == ("close",)


def test_restored_on_a_failed_step():
    actions = Actions(fail={"signup": ConnectionError("down")})
    runner, _, _, _ = make(STOPPING, actions=actions)
    assert not runner.run().passed
    assert restarts(actions) == [("control", "graph", "start"), ("control", "kafka", "resume")]


def test_restored_on_ctrl_c_and_reported_as_interrupted():
    actions = Actions(fail={"signup": KeyboardInterrupt()})
    runner, _, _, presenter = make(STOPPING, actions=actions)
    result = runner.run()
    assert result.interrupted and not result.passed
    assert restarts(actions) == [("control", "graph", "start"), ("control", "kafka", "resume")]
    assert presenter.events[-1] == ("end", False)


def test_restored_when_an_unexpected_exception_escapes():
    class Boom(BaseException):
        pass

    actions = Actions(fail={"signup": Boom()})
    runner, _, _, _ = make(STOPPING, actions=actions)
    with pytest.raises(Boom):
        runner.run()
    assert restarts(actions) == [("control", "graph", "start"), ("control", "kafka", "resume")]


def test_a_restore_that_fails_is_reported_and_the_rest_still_restored():
    class FailingStart(Actions):
        def control(self, target, action):
            if (target, action) == ("graph", "start"):
                self.calls.append(("control", target, action))
                raise RuntimeError("no such process")
            return super().control(target, action)

    actions = FailingStart()
    result = make(STOPPING, actions=actions)[0].run()
    assert restarts(actions) == [("control", "graph", "start"), ("control", "kafka", "resume")]
    assert result.not_restored == ["graph: start failed: RuntimeError: no such process"]
    assert result.as_dict()["not_restored"] == result.not_restored


@pytest.mark.parametrize("speed", [1.0, 4.0, 100.0])
def test_say_and_sleep_are_scaled_by_speed(speed):
    runner, _, clock, presenter = make("title: t\nsteps:\n  - say: hello\n    hold: 3\n  - sleep: 2\n", speed=speed)
    result = runner.run()
    assert clock.sleeps == [3 / speed, 2 / speed]
    assert ("caption", "hello") in presenter.events
    assert result.steps[1].message == f"slept {2 / speed:.1f}s"


def test_wait_until_polls_on_the_clock_and_times_out_with_what_it_saw():
    runner, _, clock, _ = make(
        "title: t\nsteps:\n  - wait_until: {count: {of: users, min: 5}, timeout: 2}\n",
        probe=Probe(metrics={"users": 3}),
    )
    result = runner.run()
    [f] = result.failures
    assert f.message == "timed out after 2s" and f.seen == "users = 3" and f.expected == "users >= 5"
    assert 19 <= len(clock.sleeps) <= 21 and set(clock.sleeps) == {0.1}


def test_trace_measures_from_the_signup_on_the_injected_clock():
    probe = Probe(names={("redis", "a@x.org"): [None, None, "A"], ("neo4j", "a@x.org"): "A"})
    runner, _, _clock, _ = make(
        "title: t\nsteps:\n  - signup: {email: A@x.org, name: A}\n"
        "  - trace: {user: a@x.org, stores: [redis, neo4j]}\n"
        "  - expect: {staleness: {store: redis, max_ms: 20}}\n",
        probe=probe,
    )
    result = runner.run()
    assert result.passed, result.failures
    assert runner.traces == {"neo4j": 0.0, "redis": pytest.approx(10.0)}  # two polls of 5 ms
    assert result.steps[1].message == "Postgres commit -> neo4j +0 ms, redis +10 ms"


def test_presenter_pause_waits_only_in_step_mode():
    keys: list[str] = []
    text = 'title: t\nsteps:\n  - pause: "press a key"\n'
    result = make(text, wait_key=keys.append)[0].run()
    assert keys == [] and result.steps[0].message == "skipped (not in --step mode)"
    result = make(text, wait_key=keys.append, step_mode=True)[0].run()
    assert keys == ["press a key"] and result.steps[0].message == "continued"


# ---------------------------------------------------------------- the registries


def test_every_step_kind_and_condition_is_registered_with_its_handlers():
    assert set(model.STEP_KINDS) == {
        "say",
        "signup",
        "follow",
        "unfollow",
        "post",
        "like",
        "read",
        "stop",
        "kill",
        "start",
        "pause",
        "resume",
        "wait_until",
        "expect",
        "trace",
        "load",
        "sleep",
        "add_column",
        "drop_column",
        "backfill",
        "update_profile",
        "schema",
        "breaking_event",
        "add_projector",
        "remove_projector",
        "catch_up",
        "rename",
        "scale_projector",
        "kill_broker",
        "start_broker",
    }
    assert set(model.STEPS) == {*model.STEP_KINDS, "presenter_pause"}
    for cls in set(model.STEPS.values()):
        assert cls.run is not model.StepModel.run, f"{cls.__name__} has no run()"
        assert cls.describe is not model.StepModel.describe, f"{cls.__name__} has no describe()"
    assert list(model.CONDITIONS) == list(model.Condition.model_fields)
    assert all(hasattr(cls, "evaluate") for cls in model.CONDITIONS.values())


def test_a_kind_registered_twice_is_refused():
    from typing import Literal

    with pytest.raises(ValueError, match="registered twice"):

        @model.step()
        class Again(model.StepModel):
            kind: Literal["say"] = "say"


def test_the_runner_does_not_shell_out_to_the_cli():
    import polydemo.scenario.runner as runner_mod

    source = Path(runner_mod.__file__).read_text()
    assert "subprocess" not in source and '"-m", "polydemo"' not in source


class Renames(Actions):
    def update_profile(self, user, name, bio):
        self._rec("update_profile", user, name)
        return f"{user}: name {name!r}"


def test_scale_projector_is_scaled_back_to_one_when_the_scenario_ends():
    runner, actions, _, _ = make(
        """
title: t
description: d
steps:
  - scale_projector: {name: graph, instances: 3}
  - wait_until: {owners: {projector: graph, instances: 2}, timeout: 5}
"""
    )
    result = runner.run()
    assert result.passed, result
    controls = [c for c in actions.calls if c[0] == "control"]
    assert controls == [("control", "graph", "scale:3"), ("control", "graph", "scale:1")]


def test_scaling_back_to_one_in_the_scenario_leaves_nothing_to_restore():
    runner, actions, _, _ = make(
        """
title: t
description: d
steps:
  - scale_projector: {name: cache, instances: 2}
  - scale_projector: {name: cache, instances: 1}
"""
    )
    assert runner.run().passed
    assert [c for c in actions.calls if c[0] == "control"] == [
        ("control", "cache", "scale:2"),
        ("control", "cache", "scale:1"),
    ]


def test_owners_condition_fails_while_the_group_is_still_rebalancing():
    probe = Probe({"owners": ({"graph#1": 12}, 12)})
    runner, _, _, _ = make(
        """
title: t
description: d
steps:
  - expect: {owners: {projector: graph, instances: 3}}
""",
        probe=probe,
    )
    result = runner.run()
    assert not result.passed
    assert "graph#1 12" in (result.steps[-1].seen or "")


def test_rename_renames_in_order_at_its_rate():
    runner, actions, clock, _ = make(
        """
title: t
description: d
steps:
  - rename: {user: rita@example.com, name: "Rita", times: 5, rate: 10}
""",
        actions=Renames(),
    )
    assert runner.run().passed
    names = [c[2] for c in actions.calls if c[0] == "update_profile"]
    assert names == ["Rita 1", "Rita 2", "Rita 3", "Rita 4", "Rita 5"]
    assert clock.now >= 0.5 - 1e-9


@pytest.mark.parametrize(
    "step, error",
    [
        ("scale_projector: {name: relay, instances: 2}", "cannot be scaled"),
        ("scale_projector: {name: graph, instances: 7}", "less than or equal to 6"),
        ("scale_projector: {name: graph, instances: 0}", "greater than or equal to 1"),
    ],
)
def test_bad_scale_steps_are_refused_before_anything_runs(step, error):
    from polydemo.errors import PolydemoError

    with pytest.raises(PolydemoError, match=error):
        scenario(f"title: t\ndescription: d\nsteps:\n  - {step}\n")


# ---------------------------------------------------------------- the broker drills (cluster mode)


def test_kill_broker_on_one_broker_fails_with_the_one_line_that_says_so():
    result = make("title: t\nsteps:\n  - kill_broker: leader-of users\n")[0].run()
    assert not result.passed
    assert "needs `polydemo up --kafka-brokers 3`" in result.failures[0].message


def test_kill_broker_resolves_kills_remembers_and_start_broker_brings_it_back():
    class BrokerActions(Actions):
        def resolve_broker(self, which):
            self.calls.append(("resolve", which))
            return 2

    actions = BrokerActions()
    runner, _, _, _ = make(
        "title: t\nsteps:\n  - kill_broker: leader-of users\n  - expect: {partitions: {topic: users, isr: 2, "
        "leader_not: killed}}\n  - start_broker: killed\n",
        actions=actions,
        probe=PartitionProbe([(0, 1, 2)]),
    )
    runner.settings = runner.settings.with_overrides(kafka_brokers=3)
    result = runner.run()
    assert result.passed, result.failures
    assert ("resolve", "leader-of users") in actions.calls
    assert ("control", "kafka-2", "kill") in actions.calls and ("control", "kafka-2", "start") in actions.calls
    assert runner.killed_brokers == [] and runner.to_restore == {}


def test_partitions_condition_wants_a_leader_the_isr_and_another_leader_than_the_killed_one():
    from polydemo.scenario.model import PartitionsCond

    probe = PartitionProbe([(0, 2, 2), (1, 1, 3)])
    assert PartitionsCond(topic="users", isr_min=2).evaluate(probe, {}).ok
    assert not PartitionsCond(topic="users", isr=3).evaluate(probe, {}).ok
    assert not PartitionsCond(topic="users", leader_not="killed").evaluate(probe, {"killed_broker": 2}).ok
    assert not PartitionsCond(topic="users", isr_min=0).evaluate(PartitionProbe([(0, -1, 0)]), {}).ok


class PartitionProbe(Probe):
    def __init__(self, states):
        super().__init__()
        self.states = states

    def partitions(self, topic):
        return self.states


def test_a_preparation_that_raises_is_not_reported_as_passed():
    # seen on a cluster: `prepare` asked Kafka for lag while a leader moved, and the summary line printed on
    # the way out said "passed, 0/21 steps" above the error
    runner, _, _, presenter = make(
        "title: t\nsteps:\n  - say: hi\n", actions=Actions(fail={"prepare": RuntimeError("leader moving")})
    )
    with pytest.raises(RuntimeError, match="leader moving"):
        runner.run()
    assert presenter.events[-1] == ("end", False)


class StalledProbe(Probe):
    """Lag 0 everywhere, yet 12 sign-ups short in the read models; the connector as given."""

    def __init__(self, connector):
        super().__init__({"users": 60, "graph_users": 48, "cache_profiles": 48, "follows": 0, "graph_follows": 0})
        self.connector = connector

    def connector_states(self):
        if isinstance(self.connector, Exception):
            raise self.connector
        return self.connector


def test_converged_at_lag_0_with_stores_apart_names_the_connector_state():
    out = model.Converged(True).evaluate(StalledProbe(("RUNNING", ["FAILED"])), {})
    assert not out.ok
    assert "'graph_users': 48" in out.seen and out.seen.endswith("; connector RUNNING (tasks FAILED)")

    out = model.Converged(True).evaluate(StalledProbe(PolydemoError("cannot reach Kafka Connect")), {})
    assert out.seen.endswith("; connector not readable: cannot reach Kafka Connect")

    import httpx  # Connect down mid-drill: the wait goes on, the text says so

    out = model.Converged(True).evaluate(StalledProbe(httpx.ConnectError("connection refused")), {})
    assert not out.ok and out.seen.endswith("; connector not readable: connection refused")


def test_converged_reads_no_connector_state_when_it_holds_or_when_there_is_lag_to_explain_it():
    ok = Probe({"users": 5, "graph_users": 5, "cache_profiles": 5, "follows": 1, "graph_follows": 1})
    out = model.Converged(True).evaluate(ok, {})
    assert out.ok and "connector" not in out.seen

    class Lagging(StalledProbe):
        def lags(self):
            return {"graph": 12, "cache": 12, "analytics": 0}

    out = model.Converged(True).evaluate(Lagging(AssertionError("not asked")), {})
    assert not out.ok and "connector" not in out.seen


def test_the_names_of_the_pipeline_processes_are_one_list():
    """A scenario's worker targets are the processes ``up`` starts; the core projectors are those less the relay."""
    from polydemo.pipeline import projectors, workers
    from polydemo.scenario import model

    assert model.WORKER_TARGETS == workers.WORKERS
    assert (
        tuple(projectors.CORE_PROJECTORS)
        == workers.PROJECTOR_NAMES
        == tuple(n for n in workers.WORKERS if n != "relay")
    )
    assert tuple(projectors.OPTIONAL_PROJECTORS) == workers.OPTIONAL
