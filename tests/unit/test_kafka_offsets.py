"""High watermarks through a leader move, without a broker: ``latest_offsets`` is given ``list_offsets``.

The stand-in answers like ``AdminClient.list_offsets`` (a future per partition); the real failover is
exercised by tests/integration/test_cluster.py and the cluster scenarios.
"""

from __future__ import annotations

from concurrent.futures import Future
from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from polydemo.stores.kafka import ask_again, latest_offsets, transient


def done(value=None, error: int | None = None) -> Future:
    f: Future = Future()
    if error is None:
        f.set_result(SimpleNamespace(offset=value))
    else:
        f.set_exception(KafkaException(KafkaError(error)))
    return f


class Script:
    """``list_offsets`` answering from a script: for each call, partition -> offset or error code."""

    def __init__(self, *answers: dict[int, int | tuple[str, int]]):
        self.answers = list(answers)
        self.asked: list[list[int]] = []

    def __call__(self, req: dict, timeout: float) -> dict:
        answer = self.answers.pop(0)
        self.asked.append(sorted(tp.partition for tp in req))
        out = {}
        for tp in req:
            a = answer[tp.partition]
            out[tp] = done(error=a[1]) if isinstance(a, tuple) else done(a)
        return out


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


PARTS = [TopicPartition("users", p) for p in range(3)]


def test_a_partition_whose_leader_moved_is_asked_again_alone():
    # what a broker answered after it took its preferred partitions back: "Leader epoch is newer than broker epoch"
    script = Script({0: 10, 1: ("err", KafkaError.UNKNOWN_LEADER_EPOCH), 2: 30}, {1: 20})
    clock = Clock()
    got = latest_offsets(script, PARTS, timeout=3.0, clock=clock, sleep=clock.sleep)
    assert got == {("users", 0): 10, ("users", 1): 20, ("users", 2): 30}
    assert script.asked == [[0, 1, 2], [1]]


def test_a_leader_that_keeps_moving_fails_once_the_timeout_is_spent():
    script = Script(*[{p: ("err", KafkaError.NOT_LEADER_FOR_PARTITION) for p in range(3)}] * 40)
    clock = Clock()
    with pytest.raises(KafkaException) as info:
        latest_offsets(script, PARTS, timeout=1.0, clock=clock, sleep=clock.sleep, backoff=0.1)
    assert info.value.args[0].code() == KafkaError.NOT_LEADER_FOR_PARTITION
    assert 9 <= len(script.asked) <= 11 and clock.now <= 1.0


def test_an_error_that_asking_again_cannot_clear_is_raised_at_once():
    script = Script({0: 1, 1: ("err", KafkaError.TOPIC_AUTHORIZATION_FAILED), 2: 3})
    clock = Clock()
    with pytest.raises(KafkaException):
        latest_offsets(script, PARTS, timeout=3.0, clock=clock, sleep=clock.sleep)
    assert len(script.asked) == 1 and clock.now == 0.0


def test_transient_knows_the_leader_errors_and_nothing_else():
    assert transient(KafkaException(KafkaError(KafkaError.UNKNOWN_LEADER_EPOCH)))
    assert transient(KafkaException(KafkaError(KafkaError.FENCED_LEADER_EPOCH)))
    # what the group's coordinator answers as it moves (seen in min-insync's preparation after a restart)
    assert transient(KafkaException(KafkaError(KafkaError.NOT_COORDINATOR)))
    assert not transient(KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)))
    assert not transient(RuntimeError("no"))


def test_a_request_lost_with_its_broker_is_transient():
    assert transient(KafkaException(KafkaError(KafkaError._TIMED_OUT)))
    assert transient(KafkaException(KafkaError(KafkaError._TRANSPORT)))


def test_ask_again_gives_each_try_at_most_per_try_and_returns_the_first_answer():
    # the metadata of a broker SIGKILLed under the request: a 1 s try times out, a later one is answered
    clock = Clock()
    tries: list[float] = []

    def ask(seconds: float) -> str:
        tries.append(seconds)
        clock.now += seconds
        if len(tries) < 3:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        return "metadata"

    assert ask_again(ask, timeout=5.0, per_try=1.0, clock=clock, sleep=clock.sleep) == "metadata"
    assert tries == [1.0, 1.0, 1.0]


def test_ask_again_raises_the_last_error_once_the_timeout_is_spent():
    clock = Clock()
    tries: list[float] = []

    def ask(seconds: float) -> str:
        tries.append(seconds)
        raise KafkaException(KafkaError(KafkaError.NOT_COORDINATOR))

    with pytest.raises(KafkaException):
        ask_again(ask, timeout=1.0, backoff=0.1, clock=clock, sleep=clock.sleep)
    assert 9 <= len(tries) <= 11 and clock.now <= 1.0  # 0.1 s apart, float sums give or take one


class NoBroker:
    """An AdminClient whose cluster does not answer (``code``), through ``KafkaAdmin(client=...)``."""

    def __init__(self, code: int):
        self.code = code

    def list_topics(self, timeout: float = 0.0):
        raise KafkaException(KafkaError(self.code, "Failed to get metadata: Local: Broker transport failure"))


@pytest.mark.parametrize(
    ("code", "is_transient"), [(KafkaError._TRANSPORT, True), (KafkaError.TOPIC_AUTHORIZATION_FAILED, False)]
)
def test_the_lag_reads_raise_polydemos_error_with_the_clients_words_and_whether_to_ask_again(code, is_transient):
    from polydemo.config import Settings
    from polydemo.errors import ExitStatus, StoreUnreachable
    from polydemo.stores.kafka import KafkaAdmin

    gw = KafkaAdmin(Settings.from_env(home="/nonexistent-polydemo-home"), client=NoBroker(code))  # type: ignore[arg-type]
    with pytest.raises(StoreUnreachable) as got:
        gw.high_watermarks(["users"], timeout=0.1)
    err = got.value
    assert err.transient is is_transient and err.exit_code == ExitStatus.STORE_UNREACHABLE
    assert err.message == "cannot reach Kafka: Failed to get metadata: Local: Broker transport failure"
    assert isinstance(err.__cause__, KafkaException)  # kept for --traceback
