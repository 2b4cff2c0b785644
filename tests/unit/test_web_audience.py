"""The audience mode's pure parts: rate limits on an injected clock, the code, the join address, the options, and
which root fields an operation asks for (the audience listener's gate)."""

from __future__ import annotations

import pytest
from graphql import parse

from polydemo.errors import PolydemoError
from polydemo.web.audience import (
    AUDIENCE_FIELDS,
    CODE_ALPHABET,
    AudienceOptions,
    join_host,
    join_url,
    new_code,
    qr_svg,
    same_code,
)
from polydemo.web.ratelimit import RateLimiter
from polydemo.web.schema import root_fields


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_a_key_gets_its_burst_then_waits_for_its_rate():
    clock = Clock()
    rl = RateLimiter(per_key=2, per_key_burst=5, overall=1000, overall_burst=1000, clock=clock)
    assert [rl.check("a") for _ in range(5)] == [0.0] * 5
    wait = rl.check("a")
    assert wait == pytest.approx(0.5), "one token comes back every half second"
    assert rl.check("b") == 0.0, "another key is not slowed by the first"
    clock.t += 0.5
    assert rl.check("a") == 0.0
    assert rl.refused == 1


def test_everybody_together_is_limited_too_and_the_key_keeps_its_token():
    clock = Clock()
    rl = RateLimiter(per_key=100, per_key_burst=100, overall=10, overall_burst=3, clock=clock)
    assert [rl.check(k) for k in "abc"] == [0.0, 0.0, 0.0]
    assert rl.check("d") == pytest.approx(0.1)
    assert rl.keys["d"].tokens == pytest.approx(100), "refused for the crowd, not for itself: its token is back"


def test_the_limiter_forgets_the_oldest_keys():
    rl = RateLimiter(clock=Clock(), max_keys=3)
    for k in "abcde":
        rl.check(k)
    assert list(rl.keys) == ["c", "d", "e"]


def test_join_codes():
    codes = {new_code() for _ in range(200)}
    assert len(codes) > 190 and all(len(c) == 6 and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert not set("01OIL") & set(CODE_ALPHABET)
    assert same_code(" k7m2qx ", "K7M2QX") and not same_code("K7M2QY", "K7M2QX")
    assert not same_code("", "K7M2QX") and not same_code("K7M2QX", None)


def test_the_join_address():
    assert join_host("127.0.0.2") == "127.0.0.2"
    assert join_host("0.0.0.0", ["127.0.0.1", "192.168.1.20", "10.0.0.5"]) == "192.168.1.20"
    assert join_host("0.0.0.0", ["127.0.0.1"]) == "127.0.0.1"
    assert join_url("0.0.0.0", 4001, "ABC234", ["10.1.2.3"]) == "http://10.1.2.3:4001/join?code=ABC234"
    assert qr_svg("http://10.1.2.3:4001/join?code=ABC234").startswith(b"<?xml")


@pytest.mark.parametrize(
    ("listen", "n", "says"),
    [("example.org", None, "is not an IP address"), ("::1", None, "only IPv4"), ("0.0.0.0", 0, "out of range")],
)
def test_bad_options_are_one_line(listen, n, says):
    with pytest.raises(PolydemoError, match=says):
        AudienceOptions.parse(listen, 4001, n)
    assert AudienceOptions.parse(None, 4001) == AudienceOptions("0.0.0.0", 4001, 1000)


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("{ me { id } posts { id } }", {"me", "posts"}),
        ('mutation { join(code: "x", name: "y") { token } }', {"join"}),
        ("{ ...F } fragment F on Query { snapshot ... on Query { health { ok } } }", {"snapshot", "health"}),
        ("query A { me { id } } query B { snapshot }", {"me", "snapshot"}),
        ("{ __schema { types { name } } }", {"__schema"}),
    ],
)
def test_root_fields_see_through_fragments(query, fields):
    assert root_fields(parse(query)) == fields


def test_root_fields_of_the_named_operation_only():
    doc = parse("query A { me { id } } query B { snapshot }")
    assert root_fields(doc, "A") == {"me"} and root_fields(doc, "B") == {"snapshot"}
    assert {"snapshot", "projector", "signUp", "health"}.isdisjoint(AUDIENCE_FIELDS)
