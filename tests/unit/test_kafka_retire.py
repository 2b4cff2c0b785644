"""KafkaAdmin.close() keeps a dropped AdminClient alive for a while instead of destroying it at once (its
requests may still be in flight; destroyed from librdkafka's own thread it kills the process)."""

from __future__ import annotations

import pytest

from polydemo.config import Settings
from polydemo.stores import kafka


@pytest.fixture(autouse=True)
def _empty_retired():
    kafka._RETIRED.clear()
    yield
    kafka._RETIRED.clear()


class FakeAdmin:
    pass


def test_close_retires_the_client_and_the_next_read_makes_a_new_one(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(kafka, "admin", lambda s: made.append(FakeAdmin()) or made[-1])
    gw = kafka.KafkaAdmin(Settings.from_env(home=tmp_path))
    first = gw.client
    gw.close()
    assert list(kafka._RETIRED) == [first]  # still referenced: not destroyed now
    assert gw.client is not first and len(made) == 2
    gw.close()
    gw.close()  # nothing to retire the second time
    assert len(kafka._RETIRED) == 2


def test_only_the_last_few_are_kept():
    clients = [FakeAdmin() for _ in range(kafka.RETIRED_MAX + 3)]
    for c in clients:
        kafka._retire(c)
    assert list(kafka._RETIRED) == clients[-kafka.RETIRED_MAX :]
