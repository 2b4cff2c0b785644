"""connector.restart, through the HTTP seam (an httpx transport that answers as Connect's REST API does):
what FAILED is restarted and awaited; a task that fails again says why; an unregistered connector says how."""

from __future__ import annotations

import httpx
import pytest

from polydemo.config import Settings
from polydemo.errors import PolydemoError
from polydemo.pipeline import connector


class Worker:
    """Connect's answers for one connector: its state and its task's, in turn, after a restart."""

    def __init__(self, task: str, after: list[str] | None, trace: str = ""):
        self.task, self.after, self.trace = task, (None if after is None else list(after)), trace
        self.restarts: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.after is None and request.method == "GET":
            return httpx.Response(404, json={"error_code": 404})
        if request.method == "POST" and request.url.path.endswith("/restart"):
            self.restarts.append(dict(request.url.params))
            if self.task == "FAILED":
                self.task = "RESTARTING"
            return httpx.Response(202, json=self.doc())
        if request.method == "GET" and self.task == "RESTARTING" and self.after:
            self.task = self.after.pop(0)
        return httpx.Response(200, json=self.doc())

    def doc(self) -> dict:
        task = {"id": 0, "state": self.task, "worker_id": "127.0.0.1:8083"}
        if self.task == "FAILED":
            task["trace"] = self.trace
        return {"name": "polydemo-users", "connector": {"state": "RUNNING"}, "tasks": [task]}


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setattr(connector.time, "sleep", lambda s: None)
    monkeypatch.setattr(connector, "RESTART_SETTLE_S", 0.05)  # a task that stays FAILED: judged at once
    return Settings.from_env(home=tmp_path)


def http(worker: Worker) -> httpx.Client:
    return httpx.Client(base_url="http://127.0.0.1:8083", transport=httpx.MockTransport(worker))


def test_a_failed_task_is_restarted_only_that_and_awaited(settings):
    worker = Worker("FAILED", after=["RESTARTING", "RUNNING"])
    doc, restarted = connector.restart(settings, timeout=5, http=http(worker))
    assert restarted == ["task 0"]
    assert connector.states(doc) == ("RUNNING", ["RUNNING"])
    assert worker.restarts == [{"includeTasks": "true", "onlyFailed": "true"}]


def test_nothing_failed_nothing_restarted(settings):
    worker = Worker("RUNNING", after=[])
    doc, restarted = connector.restart(settings, timeout=5, http=http(worker))
    assert restarted == [] and connector.states(doc) == ("RUNNING", ["RUNNING"])


def test_a_task_that_fails_again_says_why_without_the_password(settings):
    secret = settings.pg_password
    worker = Worker("FAILED", after=["FAILED"], trace=f"PSQLException: slot gone (password={secret})")
    with pytest.raises(PolydemoError) as err:
        connector.restart(settings, timeout=5, http=http(worker))
    assert err.value.message == "the Debezium connector FAILED"
    assert "slot gone" in err.value.details and (not secret or secret not in err.value.details)
    assert "polydemo connector restart" in err.value.hint


def test_an_unregistered_connector_says_how_to_register_it(settings):
    with pytest.raises(PolydemoError) as err:
        connector.restart(settings, timeout=5, http=http(Worker("RUNNING", after=None)))
    assert "not registered" in err.value.message and err.value.hint == "register it: polydemo connector register"
