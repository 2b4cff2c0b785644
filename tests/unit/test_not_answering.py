"""A frozen store (SIGSTOP, `docker pause`, a GC pause) is named "not answering", a refused one "down": the
words each client uses for the first, the verdicts, the dashboard's words and the CLI's one line (issue 27)."""

from __future__ import annotations

import pytest

from polydemo import reads
from polydemo.cli.context import unreachable_message
from polydemo.dashboard.model import ServiceHealth
from polydemo.dashboard.render import down_word, render
from polydemo.errors import silent

from .test_dashboard import load, text_of

# What each client really said against a SIGSTOPped server on this machine (redis-py 8.1, neo4j 6.4 cold and
# warm, pymongo 4.20, psycopg 3.3 through stores.postgres.AnsweringConnection, the dashboard's own deadline).
FROZEN = [
    "TimeoutError: Timeout reading from socket",
    "ServiceUnavailable: Couldn't connect to 127.0.0.1:42687 (resolved to ('127.0.0.1:42687',)): "
    "Failed to read four byte Bolt handshake response from server",
    "ServiceUnavailable: Failed to read from defunct connection IPv4Address(('127.0.0.1', 42687))",
    "ServerSelectionTimeoutError: 127.0.0.1:62017: timed out (configured timeouts: socketTimeoutMS: 2000.0ms)",
    "NotAnswering: timeseries at 127.0.0.1:5433 did not answer in 11 s (frozen or overloaded)",
    "no answer for 1.0s",
]
REFUSED = [
    "ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.",
    "ServiceUnavailable: Couldn't connect to 127.0.0.1:7687 (resolved to ('127.0.0.1:7687',)): Connection refused",
    'OperationalError: connection failed: connection to server at "127.0.0.1", port 5432 failed: Connection refused',
    "AuthError: the client is unauthorized due to authentication failure",
]


@pytest.mark.parametrize("text", FROZEN)
def test_what_a_frozen_server_makes_each_client_say_is_not_answering(text):
    assert silent(text)
    assert down_word(ServiceHealth("redis", False, error=text)) == "not answering"


@pytest.mark.parametrize("text", REFUSED)
def test_a_refused_or_failed_connection_is_down(text):
    assert not silent(text)
    assert down_word(ServiceHealth("redis", False, error=text)) == "down"
    assert down_word(None) == "down"


def test_the_verdict_of_a_read_follows_the_error_itself():
    assert reads.down_verdict(OSError("timed out")) == "not answering"
    assert reads.down_verdict(TimeoutError()) == "not answering"  # the class name says it
    assert reads.down_verdict(ConnectionRefusedError(111, "Connection refused")) == "down"


def test_the_dashboard_names_a_frozen_store_not_answering_and_a_refused_one_down():
    snap = load("snapshot_redis_down")
    svc = snap.service("redis")
    since = svc.down_since
    svc.error = "TimeoutError: Timeout reading from socket"
    text = text_of(render(snap, None, width=100, height=30), 100, 30)
    assert "✘ redis not answering since" in text and "✘ not answering since" in text
    assert "redis down since" not in text
    assert since == snap.service("redis").down_since


def test_the_cli_says_not_answering_in_one_short_line_and_how_to_go_on():
    exc = TimeoutError(
        "127.0.0.1:62017: timed out (configured timeouts: socketTimeoutMS: 2000.0ms, connectTimeoutMS: 2000.0ms), "
        "Timeout: 2.0s, Topology Description: <TopologyDescription id: 6b12, topology_type: Single>"
    )
    message, hint = unreachable_message("the Mongo-wire server", exc)
    assert message == "the Mongo-wire server is not answering: 127.0.0.1:62017: timed out"
    assert "`polydemo status`" in hint and "`polydemo up` resumes" in hint and "acknowledged" in hint
    message, hint = unreachable_message("Redis", ConnectionRefusedError("Error 111 connecting. Connection refused."))
    assert message == "cannot reach Redis: Error 111 connecting. Connection refused."
    assert "`polydemo up` starts it" in hint
