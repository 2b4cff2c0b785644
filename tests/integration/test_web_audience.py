"""The audience mode on the real gateway and stack (docs/web.md, "Audience mode"): joining, the two roles, what the
audience's listener answers, tokens, origins, rate limits, the cap, ending the session, hiding and removing.

The audience's listener binds 127.0.0.2 (fixture ``audience``): loopback only, never a real network.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import threading
import time
import uuid

import httpx
import pytest

from polydemo.stores import Stores
from polydemo.web import service

from .conftest import wait_for
from .graphql_client import code_of, gql, ok

JOIN = "mutation($c: String!, $n: String!) { join(code: $c, name: $n) { token expiresIn user { id name } } }"
POST = "mutation($t: String!) { post(title: $t) { id title author } }"


def join(aud, name: str | None = None) -> tuple[str, dict]:
    data = ok(gql(aud.audience, JOIN, c=aud.code, n=name or f"Phone {uuid.uuid4().hex[:6]}"))["join"]
    return data["token"], data["user"]


def presenter_token(aud) -> str:
    email = f"presenter-{uuid.uuid4().hex[:8]}@example.org"
    q = 'mutation($e: String!) { signUp(email: $e, name: "Speaker", password: "speaker password") { token } }'
    return ok(gql(aud.presenter, q, e=email))["signUp"]["token"]


@pytest.fixture
def stores(stack):
    with Stores(stack) as s:
        yield s


# ---------------------------------------------------------------- joining and writing


def test_a_phone_joins_with_the_code_and_its_writes_reach_every_store(audience, stores):
    token, me = join(audience, "Room Member")
    assert ok(gql(audience.audience, "{ me { id name } }", token))["me"] == {"id": me["id"], "name": "Room Member"}
    row = stores.users.user(me["id"])
    assert row is not None and row.name == "Room Member", "the audience's user is a user of the system of record"
    for password in ("!", "", "anything at all"):  # no password: the token is the identity
        signin = "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { token } }"
        assert code_of(gql(audience.presenter, signin, e=row.email, p=password)) == "UNAUTHENTICATED"
    posted = ok(gql(audience.audience, POST, token, t="hello from the room"))["post"]
    assert posted["author"] == "Room Member" and "@" not in json.dumps(posted), "no email is shown to the audience"
    assert stores.posts.count(posted["id"]) == 1
    people = ok(gql(audience.audience, "{ people(limit: 5) { id name } }", token))["people"]
    other = people[0]["id"]
    assert ok(gql(audience.audience, "mutation($f: String!) { follow(followee: $f) { changed } }", token, f=other))
    assert stores.users.follower_count(other) >= 1
    liked = ok(gql(audience.audience, "mutation($p: String!) { like(postId: $p) { likes } }", token, p=posted["id"]))
    assert liked["like"]["likes"] == 1

    def journey_complete():
        flows = ok(gql(audience.audience, "{ myJourney }", token))["myJourney"]["flows"]
        mine = [f for f in flows if f["key"] == me["id"] and f["complete"]]
        return mine[-1] if mine else None

    flow, _s = wait_for(journey_complete, 30, 0.5, "the phone's own sign-up, hop by hop")
    assert {"postgres", "kafka", "redis", "neo4j", "timeseries"} <= {h["node"] for h in flow["hops"]}
    info = httpx.get(f"{audience.presenter}/api/audience").json()
    assert info["active"] and info["users"] >= 1 and info["writes"] >= 4
    assert {"id": me["id"], "name": "Room Member"} in info["newest"]


def test_a_wrong_code_or_a_bad_name_joins_nobody(audience, stores):
    before = stores.users.user_count()
    assert code_of(gql(audience.audience, JOIN, c="WRONG1", n="Someone")) == "AUDIENCE_CLOSED"
    assert code_of(gql(audience.audience, JOIN, c=audience.code, n="x" * 201)) == "BAD_INPUT"
    assert code_of(gql(audience.audience, JOIN, c=audience.code, n="bidi\u202ename")) == "BAD_INPUT"
    assert stores.users.user_count() == before


# ---------------------------------------------------------------- two roles


@pytest.mark.parametrize(
    "mutation",
    [
        'projector(name: "cache", action: KILL)',
        "connector(action: PAUSE)",
        'runScenario(name: "post")',
        "endAudience",
        'hidePost(postId: "x")',
        'removeUser(user: "x") { id }',
        "deleteMe { id }",
    ],
)
def test_an_audience_token_is_refused_every_presenter_mutation(audience, stack, mutation):
    from polydemo.pipeline import workers

    token, _me = join(audience)
    on_audience = gql(audience.audience, f"mutation {{ {mutation} }}", token)
    assert code_of(on_audience) == "FORBIDDEN", "the audience's listener answers only the audience's fields"
    on_presenter = gql(audience.presenter, f"mutation {{ {mutation} }}", token)
    assert code_of(on_presenter) == "FORBIDDEN", "an audience token is no presenter's, on any listener"
    assert workers.status(stack, "cache").running
    assert service.audience_status(stack)["active"]


def test_the_audience_listener_answers_nothing_else(audience):
    token, _me = join(audience)
    for path in ("/", "/api/snapshot", "/api/flows", "/api/audience", "/api/audience/qr.svg", "/graphql/schema"):
        assert httpx.get(f"{audience.audience}{path}").status_code == 404, path
    assert httpx.get(f"{audience.audience}/graphql?query={{me{{id}}}}").status_code == 404
    assert code_of(gql(audience.audience, "{ __schema { types { name } } }", token)) == "FORBIDDEN"
    assert code_of(gql(audience.audience, "{ ...F } fragment F on Query { snapshot }", token)) == "FORBIDDEN"
    sign_up = 'mutation { signUp(email: "a@b.example", name: "A", password: "long enough pw") { token } }'
    assert code_of(gql(audience.audience, sign_up)) == "FORBIDDEN"
    assert code_of(gql(audience.audience, 'mutation { post(title: "x", mode: OUTBOX) { id } }', token)) == "FORBIDDEN"
    assert httpx.get(f"{audience.audience}/api/health").json() == {"ok": True, "audience": True}
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus):
        connect(audience.audience.replace("http://", "ws://") + "/api/live", open_timeout=10)


@pytest.mark.parametrize("header", ["Bearer forged-token-" + "x" * 30, "Bearer x", "Basic dXNlcjpwYXNz"])
def test_a_forged_token_is_refused(audience, header):
    r = httpx.post(
        f"{audience.audience}/graphql",
        json={"query": 'mutation { post(title: "forged") { id } }'},
        headers={"authorization": header},
    )
    assert code_of(r.json()) == "UNAUTHENTICATED"


def test_an_expired_audience_token_is_refused(audience, stores):
    from polydemo.stores.cache import session_key
    from polydemo.web.sessions import token_hash

    token, _me = join(audience)
    stores.cache.client.expire(session_key(token_hash(token)), 1)
    time.sleep(1.5)
    assert code_of(gql(audience.audience, POST, token, t="too late")) == "UNAUTHENTICATED"


# ---------------------------------------------------------------- origins and hosts (the presenter's listener)


def test_a_websocket_from_a_foreign_origin_is_refused_and_a_foreign_host_too(audience):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    ws_url = audience.presenter.replace("http://", "ws://") + "/api/live"
    with pytest.raises(InvalidStatus) as exc:
        connect(ws_url, origin="http://evil.example", open_timeout=10)
    assert exc.value.response.status_code == 403
    host = audience.presenter.split("://", 1)[1]
    with connect(ws_url, origin=f"http://{host}", open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] in ("snapshot", "audience")
    r = httpx.get(f"{audience.presenter}/api/health", headers={"host": "rebind.evil.example"})
    assert r.status_code == 403, "DNS rebinding: a page of another name reaching 127.0.0.1 is refused"


# ---------------------------------------------------------------- limits that keep the show running


def test_a_flooding_phone_is_rate_limited_while_another_keeps_writing(audience):
    flood_token, _a = join(audience)
    calm_token, _b = join(audience)
    refused: list[dict] = []
    done = threading.Event()

    def flood() -> None:
        with httpx.Client(base_url=audience.audience, timeout=30) as c:
            while not done.is_set():
                body = c.post(
                    "/graphql",
                    json={"query": 'mutation { post(title: "flood") { id } }'},
                    headers={"authorization": f"Bearer {flood_token}"},
                ).json()
                if body.get("errors"):
                    refused.append(body["errors"][0])

    threads = [threading.Thread(target=flood) for _ in range(4)]
    for t in threads:
        t.start()
    calm_ms = []
    try:
        time.sleep(1)
        for i in range(5):
            t0 = time.perf_counter()
            ok(gql(audience.audience, POST, calm_token, t=f"calm {i}"))
            calm_ms.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.6)  # within the per-token rate
    finally:
        done.set()
        for t in threads:
            t.join(30)
    assert refused, "the flood was never refused"
    first = refused[0]
    assert first["extensions"]["code"] == "RATE_LIMITED" and first["extensions"]["retryAfterMs"] >= 1
    assert "slow down" in first["message"]
    print(f"\n[audience] flood refused {len(refused)} times; calm writes p50 {statistics.median(calm_ms):.1f} ms")
    assert max(calm_ms) < 2000, f"the calm phone's writes hung during the flood: {calm_ms}"


# ---------------------------------------------------------------- the presenter's powers


def test_the_presenter_hides_a_post_and_removes_a_user(audience, stores):
    speaker = presenter_token(audience)
    token, me = join(audience, "Rude Member")
    posted = ok(gql(audience.audience, POST, token, t="something rude"))["post"]
    assert ok(gql(audience.presenter, "mutation($p: String!) { hidePost(postId: $p) }", speaker, p=posted["id"]))
    listed = ok(gql(audience.audience, "{ posts(limit: 50) { id } }", token))["posts"]
    assert posted["id"] not in {p["id"] for p in listed}
    assert posted["id"] in httpx.get(f"{audience.presenter}/api/audience").json()["hidden"]
    removed = ok(gql(audience.presenter, "mutation($u: String!) { removeUser(user: $u) { id } }", speaker, u=me["id"]))
    assert removed["removeUser"]["id"] == me["id"]
    assert stores.users.user(me["id"]) is None
    newest = httpx.get(f"{audience.presenter}/api/audience").json()["newest"]
    assert me["id"] not in {n["id"] for n in newest}


def test_the_cap_and_ending_the_session(audience, stores):
    try:
        audience.restart(max_users=2)
        speaker = presenter_token(audience)
        token, _a = join(audience)
        join(audience)
        full = gql(audience.audience, JOIN, c=audience.code, n="Third")
        assert code_of(full) == "FORBIDDEN" and "the room is full: 2 people joined" in full["errors"][0]["message"]
        code = audience.code
        assert ok(gql(audience.presenter, "mutation { endAudience }", speaker))["endAudience"] is True
        assert code_of(gql(audience.audience, POST, token, t="after the end")) == "AUDIENCE_CLOSED"
        assert code_of(gql(audience.audience, JOIN, c=code, n="Late")) == "AUDIENCE_CLOSED"
        assert httpx.get(f"{audience.presenter}/api/audience").json()["active"] is False
    finally:
        audience.restart()  # a new session, a new code, the default cap


# ---------------------------------------------------------------- what listens where


def listening(pid: int) -> set[str]:
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    return {line.split()[3] for line in out.splitlines() if f"pid={pid}," in line}


def test_with_audience_the_second_listener_is_the_one_asked_for(audience, stack):
    pid = service.status(stack).pid
    assert listening(pid) == {f"127.0.0.1:{service.port(stack)}", f"127.0.0.2:{audience.options.port}"}


def test_a_scenario_step_waits_for_audience_sign_ups(audience, stack, tmp_path):
    """`wait_until: {count: {of: audience_signups, min: N}}`: the talk goes on when enough of the room joined."""
    from polydemo.app import Demo
    from polydemo.scenario import loader

    with Stores(stack) as st:
        now = st.cache.audience_signups()
    path = tmp_path / "room.yaml"
    path.write_text(
        "title: The room joins\n"
        "steps:\n"
        '  - say: "Take out your phones."\n'
        f"  - wait_until: {{count: {{of: audience_signups, min: {now + 2}}}, timeout: 60}}\n"
        '  - say: "Two more of you joined."\n'
    )
    result: dict = {}

    def play() -> None:
        with Demo(stack) as demo:
            result["run"] = demo.run_scenario(loader.load(str(path)), speed=100)

    t = threading.Thread(target=play)
    t.start()
    time.sleep(1)
    assert t.is_alive(), "the step did not wait"
    join(audience)
    join(audience)
    t.join(60)
    assert not t.is_alive() and result["run"].passed, result
