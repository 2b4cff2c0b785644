"""connector.register: a PUT that times out or meets a rebalance (409) is sent again, until the timeout."""

from __future__ import annotations

from typing import ClassVar

import httpx
import pytest

from polydemo.config import Settings
from polydemo.pipeline import connector


class FakeConnect:
    answers: ClassVar[list] = []
    puts = 0

    def __init__(self, settings, timeout=5.0):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def put_config(self, cfg):
        FakeConnect.puts += 1
        answer = FakeConnect.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, text="{}")


@pytest.fixture
def fake(monkeypatch, tmp_path):
    FakeConnect.puts = 0
    monkeypatch.setattr(connector, "Connect", FakeConnect)
    monkeypatch.setattr(connector, "config", lambda s, o=None: {})
    monkeypatch.setattr(connector, "wait_running", lambda s, t: {"connector": {"state": "RUNNING"}})
    monkeypatch.setattr(connector.time, "sleep", lambda s: None)
    return Settings.from_env(home=tmp_path)


def test_a_timed_out_put_and_a_rebalance_are_retried(fake):
    FakeConnect.answers = [httpx.ReadTimeout("timed out"), 409, 201]
    assert connector.register(fake)["connector"]["state"] == "RUNNING"
    assert FakeConnect.puts == 3


def test_past_the_timeout_the_timeout_is_raised(fake):
    FakeConnect.answers = [httpx.ReadTimeout("timed out")]
    with pytest.raises(httpx.ReadTimeout):
        connector.register(fake, timeout=0.0)
    assert FakeConnect.puts == 1
