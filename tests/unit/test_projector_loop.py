"""The projector loop (pipeline/loop.py ProjectorLoop) driven through its seams, in milliseconds.

The stand-ins are for the confluent-kafka *client objects* only (poll/consume/commit/close,
produce/flush, messages): the loop's own logic is what runs. The store writer is a recorder that
can be told to fail; what a real store does with the writes is tested on the real stack
(tests/integration/test_drills.py, test_pipeline.py).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from polydemo.config import Settings
from polydemo.pipeline.events import Change, topics
from polydemo.pipeline.loop import CommitResults, GroupWatch, Projector, ProjectorLoop, StatusFile, dlq_topic

USERS = topics("polydemo")["users"]
FOLLOWS = topics("polydemo")["follows"]


# ---------------------------------------------------------------- stand-ins for the Kafka client objects


class Err:
    def __init__(self, code: int, text: str = "error"):
        self._code, self.text = code, text

    def code(self) -> int:
        return self._code

    def __str__(self) -> str:
        return self.text


class Msg:
    def __init__(
        self,
        topic: str,
        offset: int,
        value: bytes | None,
        key: bytes | None = None,
        partition: int = 0,
        error: Err | None = None,
    ):
        self._t, self._o, self._v, self._k, self._p, self._e = topic, offset, value, key, partition, error

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> bytes | None:
        return self._k

    def value(self) -> bytes | None:
        return self._v

    def error(self) -> Err | None:
        return self._e

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_000 + self._o)  # TIMESTAMP_CREATE_TIME, ms


class FakeConsumer:
    """Serves queued messages; a batch is what arrived together (``None`` between batches: a poll that
    waited and got nothing). When the queue is empty it sets the stop event, as SIGTERM would."""

    def __init__(self, batches: list[list[Msg]], stop: threading.Event, log: list):
        self.queue: list[Msg | None] = [m for b in batches for m in (*b, None)]
        self.stop, self.log = stop, log
        self.subscribed: list[str] = []
        self.closed = False
        self.committed: list[dict] = []  # the offsets of each commit, named
        self.assigned: list = []

    def subscribe(self, names: list[str]) -> None:
        self.subscribed = list(names)

    def poll(self, timeout: float) -> Msg | None:
        if not self.queue:
            self.stop.set()
            return None
        return self.queue.pop(0)

    def consume(self, num_messages: int, timeout: float) -> list[Msg]:
        out: list[Msg] = []
        while self.queue and self.queue[0] is not None and len(out) < num_messages:
            out.append(self.queue.pop(0))  # type: ignore[arg-type]
        return out

    def commit(self, *, offsets: list, asynchronous: bool) -> None:
        assert asynchronous is True  # a synchronous commit can deadlock a rebalance (CommitResults)
        self.committed.append({(tp.topic, tp.partition): tp.offset for tp in offsets})
        self.log.append(("commit",))

    def assignment(self) -> list:
        return self.assigned

    def close(self) -> None:
        self.closed = True


class FakeProducer:
    def __init__(self, log: list, unacked: list[int] | None = None):
        self.log = log
        self.unacked = list(unacked or [])  # flush results to return first (messages still in flight)
        self.produced: list[dict] = []

    def produce(self, topic: str, *, key, value, headers) -> None:
        self.produced.append({"topic": topic, "key": key, "value": value, "headers": dict(headers)})

    def flush(self, timeout: float) -> int:
        left = self.unacked.pop(0) if self.unacked else 0
        self.log.append(("flush", left))
        return left


class ListStatus:
    def __init__(self):
        self.writes: list[dict] = []

    def write(self, data: dict) -> None:
        self.writes.append(json.loads(json.dumps(data)))  # what a status file would hold


class Recorder(Projector):
    """A store writer that records each batch, and raises for the first ``fail`` calls."""

    name = "graph"
    sources = ("users", "follows")

    def __init__(self, settings: Settings, log: list, fail: int = 0):
        super().__init__(settings)
        self.log, self.fail = log, fail
        self.batches: list[list[Change]] = []
        self.opened = self.closed = self.reconnects = 0

    def open(self) -> None:
        self.opened += 1

    def close(self) -> None:
        self.closed += 1

    def reconnect(self) -> None:
        self.reconnects += 1

    def apply(self, changes: list[Change]) -> None:
        if self.fail:
            self.fail -= 1
            self.log.append(("apply failed", len(changes)))
            raise ConnectionError("store is down")
        self.batches.append(list(changes))
        self.log.append(("apply", [c.key.get("id") or c.key.get("follower_id") for c in changes]))


def user(uid: str, op: str = "c", lsn: int = 1) -> bytes:
    return json.dumps(
        {
            "before": None if op != "d" else {"id": uid},
            "after": {"id": uid, "name": uid} if op != "d" else None,
            "op": op,
            "source": {"lsn": lsn, "ts_ms": 1},
        }
    ).encode()


def follow(a: str, b: str, op: str = "c") -> bytes:
    row = {"follower_id": a, "followee_id": b}
    return json.dumps(
        {
            "before": row if op == "d" else None,
            "after": row if op != "d" else None,
            "op": op,
            "source": {"lsn": 1, "ts_ms": 1},
        }
    ).encode()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(home=tmp_path)


def make(settings, batches, fail=0, unacked=None, sleep=None, batch_size=1000):
    log: list = []
    stop = threading.Event()
    consumer = FakeConsumer(batches, stop, log)
    dlq = FakeProducer(log, unacked)
    status = ListStatus()
    proj = Recorder(settings, log, fail)
    sleeps: list[float] = []
    runner = ProjectorLoop(proj, consumer, dlq, status, stop=stop, batch_size=batch_size, sleep=sleep or sleeps.append)
    return runner, consumer, dlq, status, proj, log, sleeps


# ---------------------------------------------------------------- the tests


def test_commits_only_after_the_write_and_reports_positions(settings):
    runner, consumer, _, status, proj, log, _ = make(
        settings,
        [
            [Msg(USERS, 0, user("a")), Msg(USERS, 1, user("b"))],
            [Msg(FOLLOWS, 7, follow("a", "b"), partition=2)],
        ],
    )
    runner.run()
    assert consumer.subscribed == [USERS, FOLLOWS]
    assert log == [("apply", ["a", "b"]), ("commit",), ("apply", ["a"]), ("commit",)]
    final = status.writes[-1]
    assert final["state"] == "stopped" and final["processed"] == 3 and final["dead_lettered"] == 0
    assert final["positions"] == {f"{USERS}[0]": 2, f"{FOLLOWS}[2]": 8}
    assert consumer.committed == [{(USERS, 0): 2}, {(FOLLOWS, 2): 8}]  # just past each batch, named
    assert status.writes[0]["state"] == "running" and status.writes[0]["processed"] == 0
    assert consumer.closed and proj.opened == 1 and proj.closed == 1


def test_one_poll_and_its_consume_make_one_batch_in_order(settings):
    msgs = [
        Msg(USERS, 0, user("a")),
        Msg(USERS, 1, user("b")),
        Msg(FOLLOWS, 0, follow("a", "b")),
        Msg(USERS, 2, user("c")),
        Msg(USERS, 3, user("a", "d")),
    ]
    runner, _, _, _, proj, _, _ = make(settings, [msgs])
    runner.run()
    [batch] = proj.batches
    assert [(c.entity, c.op) for c in batch] == [
        ("user", "create"),
        ("user", "create"),
        ("follow", "create"),
        ("user", "create"),
        ("user", "delete"),
    ]
    # The projectors write a batch as consecutive runs of one kind, order kept (pipeline/projectors.py).
    from polydemo.stores.graph import runs as _runs

    assert [(k, len(list(g))) for k, g in _runs(batch)] == [
        (("user", "create"), 2),
        (("follow", "create"), 1),
        (("user", "create"), 1),
        (("user", "delete"), 1),
    ]


def test_batch_size_caps_what_one_poll_takes(settings):
    msgs = [Msg(USERS, i, user(f"u{i}", lsn=i)) for i in range(5)]
    runner, _, _, _, proj, log, _ = make(settings, [msgs], batch_size=2)
    runner.run()
    # poll() takes one message and consume() up to batch_size - 1 more; the rest waits for the next poll.
    assert [len(b) for b in proj.batches] == [2, 2, 1]
    assert log.count(("commit",)) == 3


def test_poison_goes_to_the_dlq_with_reasons_flushed_before_the_commit(settings):
    runner, _, dlq, status, _proj, log, _ = make(
        settings,
        [
            [Msg(USERS, 4, user("a")), Msg(USERS, 5, b"{not json", key=b"k1"), Msg(USERS, 6, b"[1, 2]")],
        ],
        unacked=[1],
    )  # the first flush leaves one message unacknowledged: retried, then committed
    runner.run()
    assert [p["topic"] for p in dlq.produced] == [dlq_topic(settings)] * 2
    first = dlq.produced[0]
    assert first["key"] == b"k1" and first["value"] == b"{not json"
    assert first["headers"]["dlq.reason"].decode().startswith("value is not JSON")
    assert first["headers"]["dlq.source.topic"] == USERS.encode()
    assert first["headers"]["dlq.source.partition"] == b"0" and first["headers"]["dlq.source.offset"] == b"5"
    assert first["headers"]["dlq.projector"] == b"graph"
    assert dlq.produced[1]["headers"]["dlq.reason"] == b"value is a list, not an object"
    assert log == [("flush", 1), ("flush", 0), ("apply", ["a"]), ("commit",)]
    final = status.writes[-1]
    assert final["dead_lettered"] == 2 and final["processed"] == 1 and final["positions"] == {f"{USERS}[0]": 7}


def test_store_down_retries_without_commit_then_commits_once(settings):
    runner, _, _, status, proj, log, sleeps = make(settings, [[Msg(USERS, 0, user("a"))]], fail=3)
    runner.run()
    assert log == [("apply failed", 1)] * 3 + [("apply", ["a"]), ("commit",)]
    assert len(sleeps) == 3 and sleeps == sorted(sleeps) and all(0 < s <= 5 for s in sleeps)  # backing off
    assert proj.reconnects == 3
    retrying = [w for w in status.writes if w["state"] == "retrying"]
    assert len(retrying) == 3
    assert retrying[0]["last_error"] == "writing 1 change(s): ConnectionError: store is down"
    assert retrying[0]["positions"] == {}  # nothing moved while retrying
    final = status.writes[-1]
    assert final["processed"] == 1 and final["last_error"] is None


def test_stop_during_retry_commits_nothing(settings):
    holder: dict = {}

    def sleep(seconds: float) -> None:
        holder["runner"].stop.set()  # SIGTERM arrives during the back-off

    runner, consumer, _, status, proj, log, _ = make(settings, [[Msg(USERS, 0, user("a"))]], fail=100, sleep=sleep)
    holder["runner"] = runner
    runner.run()
    assert ("commit",) not in log and proj.batches == []
    assert log == [("apply failed", 1)]
    final = status.writes[-1]
    assert final["state"] == "stopped" and final["processed"] == 0 and final["positions"] == {}
    assert consumer.closed and proj.closed == 1


def test_stop_while_the_dlq_is_unacknowledged_commits_nothing(settings):
    holder: dict = {}
    runner, _, _, status, _, log, _ = make(
        settings, [[Msg(USERS, 0, b"nope")]], unacked=[1] * 100, sleep=lambda s: holder["runner"].stop.set()
    )
    holder["runner"] = runner
    runner.run()
    assert ("commit",) not in log
    assert status.writes[-1]["dead_lettered"] == 0


def test_partition_eof_is_not_an_error_but_a_broker_error_is_reported(settings):
    runner, _, _, status, proj, log, _ = make(
        settings,
        [
            [Msg(USERS, 0, None, error=Err(KafkaError._PARTITION_EOF, "eof"))],
            [Msg(USERS, 0, None, error=Err(KafkaError._TRANSPORT, "broker down"))],
        ],
    )
    seen = []
    status.write = lambda data: seen.append(data["last_error"])
    runner.STATUS_EVERY_S = 0  # every write goes through
    runner.run()
    assert log == [] and proj.batches == []  # nothing to write, nothing to commit
    assert None in seen and "broker down" in seen


def test_tombstones_are_committed_but_not_written(settings):
    runner, _, _, status, proj, log, _ = make(settings, [[Msg(USERS, 3, None)]])
    runner.run()
    assert log == [("commit",)] and proj.batches == []
    assert status.writes[-1]["positions"] == {f"{USERS}[0]": 4} and status.writes[-1]["processed"] == 0


def test_status_file_is_replaced_atomically(tmp_path):
    sink = StatusFile(tmp_path / "run" / "projector-graph.json")
    sink.write({"state": "running"})
    sink.write({"state": "stopped"})
    assert json.loads(sink.path.read_text()) == {"state": "stopped"}
    assert not sink.path.with_suffix(".tmp").exists()


def test_recent_ring_records_each_applied_change_with_its_times(settings):
    ticks = iter(range(100, 10_000))
    runner, _, _, status, _, _, _ = make(
        settings,
        [[Msg(USERS, 4, user("a", lsn=77)), Msg(USERS, 5, b"not json")], [Msg(USERS, 6, user("b"))]],
    )
    runner.clock = lambda: float(next(ticks))
    runner.run()
    recent = status.writes[-1]["recent"]
    assert [(r["key"], r["offset"], r["lsn"]) for r in recent] == [({"id": "a"}, 4, 77), ({"id": "b"}, 6, 1)]
    first = recent[0]
    assert first["topic"] == USERS and first["partition"] == 0 and first["kafka_ts_ms"] == 1004
    assert first["source_ts_ms"] == 1 and first["entity"] == "user" and first["op"] == "create"
    assert first["consumed_at_ms"] < first["applied_at_ms"]  # poison went to the DLQ, not the ring


def test_recent_ring_is_bounded_and_skips_a_failed_write_until_it_succeeds(settings):
    from polydemo.pipeline.loop import RECENT

    msgs = [Msg(USERS, i, user(f"u{i}")) for i in range(RECENT + 10)]
    runner, _, _, status, _, _, _ = make(settings, [msgs], fail=2)
    runner.run()
    recent = status.writes[-1]["recent"]
    assert len(recent) == RECENT and recent[-1]["offset"] == RECENT + 9 and recent[0]["offset"] == 10
    retrying = [w for w in status.writes if w["state"] == "retrying"]
    assert retrying and all(w["recent"] == [] for w in retrying)


# ---------------------------------------------------------------- lag as time, for the trend


def test_note_lag_keeps_one_sample_per_second_the_highest_and_only_the_last_minute():
    from polydemo.pipeline.loop import note_lag

    hist: list[list[float]] = []
    note_lag(hist, 100.2, 0.5)
    note_lag(hist, 100.9, 1.25)  # same second: the higher stays
    note_lag(hist, 100.95, 0.1)
    note_lag(hist, 101.0, -3)  # a clock a little behind a record timestamp is 0, not negative
    assert hist == [[100.0, 1.25], [101.0, 0.0]]
    note_lag(hist, 160.5, 2.0)  # 100 is more than 60 s old now; 101 is not
    assert hist == [[101.0, 0.0], [160.0, 2.0]]


def test_the_status_file_carries_how_long_each_batchs_oldest_change_waited(settings):
    # Msg timestamps are 1000 + offset ms; the clock reads 3.0 s when the batch is taken: offsets 5 and 9
    # waited 1.995 and 1.991 s, so the batch's lag is 1.995 s; the empty poll after it is 0.
    runner, *_rest = make(settings, [[Msg(USERS, 9, user("a")), Msg(USERS, 5, user("b"), partition=1)]])
    status = _rest[2]
    runner.clock = lambda: 3.0
    runner.run()
    assert status.writes[-1]["lag_history"] == [[3.0, 1.995]]


def test_a_batch_held_back_by_a_store_outage_keeps_ageing(settings):
    times = iter([10.0, 10.0, 12.5, 15.0, 15.0, 15.0, 15.0, 15.0])
    runner, *_rest = make(settings, [[Msg(USERS, 0, user("a"))]], fail=2)
    status = _rest[2]
    runner.clock = lambda: next(times, 15.0)
    runner.run()
    hist = dict((t, v) for t, v in status.writes[-1]["lag_history"])
    assert hist[10.0] == pytest.approx(9.0) and hist[12.0] == pytest.approx(11.5) and hist[15.0] >= 14.0


# ---------------------------------------------------------------- who owns which partition


class Assigned(FakeConsumer):
    def assignment(self) -> list:
        from confluent_kafka import TopicPartition

        return [TopicPartition(FOLLOWS, 2), TopicPartition(USERS, 4), TopicPartition(USERS, 1)]


def test_the_status_file_names_the_partitions_this_instance_owns(settings):
    stop = threading.Event()
    log: list = []
    status = ListStatus()
    consumer = Assigned([[Msg(USERS, 0, user("a"))]], stop, log)
    ProjectorLoop(Recorder(settings, log), consumer, FakeProducer(log), status, stop=stop, sleep=lambda _s: None).run()
    assert status.writes[-1]["assignment"] == [[FOLLOWS, 2], [USERS, 1], [USERS, 4]]


def test_members_are_the_running_instances_with_what_each_last_wrote(settings):
    import os

    from polydemo import procs
    from polydemo.pipeline import workers
    from polydemo.pipeline.loop import status_file

    for instance, pid in ((1, os.getpid()), (2, 2**22 + 12345)):  # instance 2's process is gone
        procs.write_pid(workers.pid_file(settings, "graph", instance), pid)
        StatusFile(status_file(settings, "graph", instance)).write(
            {"pid": pid, "state": "running", "assignment": [[USERS, instance], [USERS, instance + 2]]}
        )
    (only,) = workers.members(settings, "graph")
    assert only.client_id == "polydemo-graph-1" and only.partitions == ((USERS, 1), (USERS, 3))


# ---------------------------------------------------------------- group membership (the lid drill)


def stats(state: str, join: str, broker: str = "UP") -> str:
    return json.dumps(
        {
            "name": "c",
            "brokers": {"127.0.0.1:9092/1": {"nodeid": 1, "state": broker}},
            "cgrp": {"state": state, "join_state": join, "assignment_size": 0},
        }
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_consumer_out_of_its_group_with_the_coordinator_up_is_stuck_after_30s():
    clock = Clock()
    watch = GroupWatch(clock=clock)
    watch.on_stats(stats("up", "steady"))
    assert watch.stuck() is None
    for _ in range(6):  # a report every 5 s, each saying it still waits for its JoinGroup answer
        clock.now += 5
        watch.on_stats(stats("up", "wait-join"))
    assert watch.stuck() is None  # 25 s
    clock.now += 5
    watch.on_stats(stats("up", "wait-join"))
    assert watch.stuck() == "not in its consumer group for 30s (Kafka up; group state up/wait-join)"
    watch.on_stats(stats("up", "steady"))
    assert watch.stuck() is None  # it got in after all


def test_kafka_down_or_no_fresh_report_is_never_stuck():
    clock = Clock()
    watch = GroupWatch(clock=clock)
    for _ in range(20):  # Kafka down: a new consumer would wait just the same
        clock.now += 5
        watch.on_stats(stats("wait-coord", "init", broker="DOWN"))
    assert watch.stuck() is None
    watch.on_stats(stats("up", "wait-join"))
    clock.now += 60  # then no report: the loop held a batch through a store outage, not polling
    assert watch.stuck() is None
    watch.on_stats("not json")  # ignored
    assert watch.stuck() is None


def test_the_loop_replaces_a_stuck_consumer_and_resumes_from_the_commit(settings):
    clock = Clock()
    watch = GroupWatch(clock=clock)
    runner, consumer, _, status, proj, log, _ = make(settings, [[Msg("polydemo.public.users", 0, user("u1"), b"u1")]])
    fresh = FakeConsumer([[Msg("polydemo.public.users", 0, user("u1"), b"u1")]], runner.stop, log)
    runner.watch, runner.make_consumer = watch, lambda: fresh
    consumer.queue = [None]  # the stuck consumer polls nothing
    consumer.stop = threading.Event()  # and would never stop the loop by itself
    for t in range(0, 35, 5):
        clock.now = 100.0 + t
        watch.on_stats(stats("up", "wait-join"))
    runner.run()
    assert consumer.closed and fresh.subscribed == list(proj.topics())
    assert [b[0].key["id"] for b in proj.batches] == ["u1"]  # the new one got the work (from the last commit)
    assert runner.rejoins == 1 and status.writes[-1]["rejoins"] == 1
    said = [w["last_error"] for w in status.writes if w["last_error"]]
    assert said and said[0].startswith("rejoined its consumer group (not in its consumer group for 30s")


def test_a_consumer_looking_for_its_coordinator_while_a_broker_answers_is_stuck_too():
    clock = Clock()
    watch = GroupWatch(clock=clock)
    for _ in range(7):
        watch.on_stats(stats("query-coord", "init"))
        clock.now += 5
    watch.on_stats(stats("query-coord", "init"))
    assert watch.stuck() == "not in its consumer group for 35s (Kafka up; group state query-coord/init)"
    watch.reset()
    assert watch.stuck() is None


# ---------------------------------------------------------------- asynchronous commits and their answers


class Answer:
    """A partition in librdkafka's answer to a commit (``on_commit``'s list): offset, and its error if any."""

    def __init__(self, topic: str, partition: int, offset: int, error: Err | None = None):
        self.topic, self.partition, self.offset, self.error = topic, partition, offset, error


def test_a_refused_commit_is_owed_until_a_later_one_of_that_partition_goes_through():
    commits = CommitResults()
    moved = Err(KafkaError.NOT_COORDINATOR, "Broker: Not coordinator")
    commits.on_commit(None, [Answer(USERS, 0, 5, moved), Answer(USERS, 1, 9)])
    assert commits.failures == 1 and commits.last_error == "Broker: Not coordinator"
    commits.on_commit(moved, [Answer(USERS, 0, 7)])  # the request as a whole failed
    assert commits.owed({(USERS, 0), (USERS, 1)}) == {(USERS, 0): 7}  # the newest; partition 1 went through
    assert commits.owed({(USERS, 0)}) == {}  # taken: the new commit's answer says again

    commits.on_commit(moved, [Answer(USERS, 0, 7)])
    commits.on_commit(None, [Answer(USERS, 0, 8)])  # a later commit of the partition went through
    assert commits.owed({(USERS, 0)}) == {}

    commits.on_commit(moved, [Answer(USERS, 2, 3)])
    assert commits.owed({(USERS, 0)}) == {}  # partition 2 is owned elsewhere now: its owner commits it

    commits.on_commit(Err(KafkaError._NO_OFFSET, "Local: No offset stored"), [])
    assert commits.failures == 4  # four refusals; nothing to commit is not a failure


def test_the_idle_loop_commits_again_what_was_refused_and_reports_it(settings):
    runner, consumer, _, status, _, _, _ = make(settings, [[Msg(USERS, 4, user("a"))]])
    consumer.assigned = [Answer(USERS, 0, -1001)]
    # The answer to the batch's commit, served by the loop's next poll: the coordinator had moved.
    served = consumer.poll

    def poll(timeout: float):
        if consumer.committed and not runner.commits.failures:
            runner.commits.on_commit(None, [Answer(USERS, 0, 5, Err(KafkaError.NOT_COORDINATOR, "moved"))])
        return served(timeout)

    consumer.poll = poll  # type: ignore[method-assign]
    consumer.queue += [None, None]  # idle polls: the first commits again
    runner.run()
    assert consumer.committed == [{(USERS, 0): 5}, {(USERS, 0): 5}]
    assert status.writes[-1]["commit_failures"] == 1 and status.writes[-1]["positions"] == {f"{USERS}[0]": 5}
