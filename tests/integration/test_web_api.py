"""The web gateway's API on the real stack (docs/web.md): every mutation and query, sessions, the three read
consistencies, bad input refused with a code and nothing written, the live feed and a GraphQL subscription.

The gateway runs as a service (`polydemo web start`, fixture ``web``) over the suite's stack; each test makes its
own users (unique emails), so none depends on another's data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import time
import uuid

import httpx
import pytest

from polydemo.errors import PortInUseError
from polydemo.stores import Stores
from polydemo.stores.cache import session_key
from polydemo.web import service
from polydemo.web.sessions import token_hash

from .conftest import wait_for
from .graphql_client import error, gql, ok

PASSWORD = "correct horse battery staple"


SIGN_UP = (
    "mutation($e: String!, $n: String!, $p: String!) "
    "{ signUp(email: $e, name: $n, password: $p) { token expiresIn user { id email name } } }"
)
SIGN_IN = "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { token expiresIn user { id email } } }"
READ = (
    "query($id: String!, $c: Consistency!) { user(id: $id, consistency: $c) "
    "{ store consistency found name verdict lagMessages lagMs waitedMs caughtUp readMs } }"
)


def email(tag: str) -> str:
    return f"web-{tag}-{uuid.uuid4().hex[:10]}@example.org"


def sign_up(url: str, tag: str, name: str | None = None) -> tuple[str, dict]:
    e = email(tag)
    data = ok(gql(url, SIGN_UP, e=e, n=name or f"Web {tag}", p=PASSWORD))["signUp"]
    return data["token"], data["user"]


@pytest.fixture
def stores(stack):
    with Stores(stack) as s:
        yield s


# ---------------------------------------------------------------- sessions


def test_sign_up_opens_a_session_kept_in_redis_with_a_ttl_and_no_secret(web, stores):
    e = email("signup")
    answer = gql(web, SIGN_UP, e=e, n="Grace Web", p=PASSWORD)
    data = ok(answer)["signUp"]
    assert data["user"]["email"] == e and data["expiresIn"] == 1800
    text = json.dumps(answer)
    assert PASSWORD not in text and "argon2" not in text and "hashed" not in text
    found = stores.cache.session_get(token_hash(data["token"]))
    assert found is not None, "the session is not in Redis"
    fields, ttl = found
    assert fields["user_id"] == data["user"]["id"] and 0 < ttl <= 1800
    assert data["token"] not in json.dumps(fields), "Redis keeps the token's hash, never the token"
    assert ok(gql(web, "{ me { email name } }", data["token"]))["me"] == {"email": e, "name": "Grace Web"}
    assert stores.users.user(e) is not None


def test_sign_in_checks_the_password_and_sign_out_ends_the_session(web):
    token, user = sign_up(web, "signin")
    wrong = error(gql(web, SIGN_IN, e=user["email"], p="not the password"))
    assert wrong["extensions"]["code"] == "UNAUTHENTICATED" and wrong["message"] == "wrong email or password"
    nobody = error(gql(web, SIGN_IN, e=email("nobody"), p=PASSWORD))
    assert nobody["message"] == wrong["message"], "the error must not tell which emails exist"
    second = ok(gql(web, SIGN_IN, e=user["email"].upper(), p=PASSWORD))["signIn"]
    assert second["token"] != token and second["user"]["id"] == user["id"]
    assert ok(gql(web, "mutation { signOut }", second["token"]))["signOut"] is True
    gone = error(gql(web, "{ me { email } }", second["token"]))
    assert gone["extensions"]["code"] == "UNAUTHENTICATED"
    assert ok(gql(web, "{ me { email } }", token))["me"]["email"] == user["email"], "the other session lives on"


def test_an_expired_session_is_refused(web, stores):
    token, _user = sign_up(web, "expire")
    stores.cache.client.expire(session_key(token_hash(token)), 1)
    time.sleep(1.5)
    err = error(gql(web, "{ me { email } }", token))
    assert err["extensions"]["code"] == "UNAUTHENTICATED" and "expired" in err["message"]


@pytest.mark.parametrize(
    "header",
    [None, "Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 500],
    ids=["no header", "unknown token", "not bearer", "overlong"],
)
def test_a_mutation_without_a_valid_session_is_refused_and_writes_nothing(web, stores, header):
    _token, target = sign_up(web, "target")
    headers = {"authorization": header} if header else {}
    before = stores.users.follower_count(target["id"])
    r = httpx.post(
        f"{web}/graphql",
        json={"query": f'mutation {{ follow(followee: "{target["email"]}") {{ changed }} }}'},
        headers=headers,
        timeout=30,
    )
    err = error(r.json())
    assert err["extensions"]["code"] == "UNAUTHENTICATED", err
    assert err["extensions"]["hint"]
    assert stores.users.follower_count(target["id"]) == before


# ---------------------------------------------------------------- writes: each to its system of record


def test_follow_and_unfollow_write_postgres_and_cdc_carries_them_to_neo4j(web, stores):
    token, me = sign_up(web, "follower")
    _t, them = sign_up(web, "followee")
    FOLLOW = "mutation($f: String!) { follow(followee: $f) { follower followee changed } }"
    assert ok(gql(web, FOLLOW, token, f=them["email"]))["follow"] == {
        "follower": me["email"],
        "followee": them["email"],
        "changed": True,
    }
    assert ok(gql(web, FOLLOW, token, f=them["email"]))["follow"]["changed"] is False
    assert stores.users.follower_count(them["id"]) == 1
    wait_for(
        lambda: (stores.graph.user(them["id"], them["email"]) or (None, 0))[1] == 1, 20, what="the follow in Neo4j"
    )
    UNFOLLOW = "mutation($f: String!) { unfollow(followee: $f) { changed } }"
    assert ok(gql(web, UNFOLLOW, token, f=them["email"]))["unfollow"]["changed"] is True
    assert stores.users.follower_count(them["id"]) == 0
    self_follow = error(gql(web, FOLLOW, token, f=me["email"]))
    assert self_follow["extensions"]["code"] == "BAD_INPUT"


POST = "mutation($t: String!, $m: PostMode!) { post(title: $t, mode: $m) { id title mode author } }"


@pytest.mark.parametrize("mode", ["RELAY", "DUAL_WRITE"])
def test_post_through_mongo_and_like_it(web, stores, mode):
    token, me = sign_up(web, f"post-{mode.lower()}")
    title = f"web {mode} {uuid.uuid4().hex[:6]}"
    posted = ok(gql(web, POST, token, t=title, m=mode))["post"]
    assert posted["title"] == title and posted["mode"] == mode and posted["author"] == me["email"]
    assert stores.posts.count(posted["id"]) == 1, "the post is in Mongo, its system of record"
    liked = ok(gql(web, "mutation($p: String!) { like(postId: $p) { id likes } }", token, p=posted["id"]))["like"]
    assert liked == {"id": posted["id"], "likes": 1}


def test_post_through_the_outbox_is_one_postgres_transaction(web, stores):
    token, me = sign_up(web, "post-outbox")
    title = f"web OUTBOX {uuid.uuid4().hex[:6]}"
    posted = ok(gql(web, POST, token, t=title, m="OUTBOX"))["post"]
    assert posted["mode"] == "OUTBOX" and posted["author"] == me["email"]
    assert stores.users.outbox_post_count(posted["id"]) == 1, "the post row is in Postgres with its outbox event"


def test_delete_me_deletes_the_user_and_ends_the_session(web, stores):
    token, me = sign_up(web, "delete")
    assert ok(gql(web, "mutation { deleteMe { id email } }", token))["deleteMe"]["id"] == me["id"]
    assert stores.users.user(me["email"]) is None
    assert error(gql(web, "{ me { email } }", token))["extensions"]["code"] == "UNAUTHENTICATED"


# ---------------------------------------------------------------- bad input: one error with a code, nothing written


@pytest.mark.parametrize(
    ("variables", "code", "says"),
    [
        ({"e": "not-an-email", "n": "X", "p": PASSWORD}, "BAD_INPUT", "is not an email address"),
        ({"e": "@@", "n": "X" * 201, "p": PASSWORD}, "BAD_INPUT", ""),
        ({"e": "ok@example.org", "n": "N" * 201, "p": PASSWORD}, "BAD_INPUT", "name"),
        ({"e": "ok@example.org", "n": "Name", "p": "short"}, "BAD_INPUT", "password"),
        ({"e": "ok@example.org", "n": "bad\u202ename", "p": PASSWORD}, "BAD_INPUT", "name"),
    ],
    ids=["email", "email and name", "long name", "short password", "bidi control"],
)
def test_sign_up_refuses_bad_input_with_the_clis_limits(web, stores, variables, code, says):
    variables = {**variables, "e": variables["e"].replace("ok@", f"ok-{uuid.uuid4().hex[:8]}@")}
    err = error(gql(web, SIGN_UP, **variables))
    assert err["extensions"]["code"] == code and says in err["message"], err
    assert err["extensions"]["hint"]
    assert stores.users.user(variables["e"].strip().lower()) is None, "nothing is written on a refusal"


def test_a_taken_email_is_already_exists_and_writes_nothing(web, stores):
    _token, me = sign_up(web, "taken")
    before = stores.users.user_count()
    err = error(gql(web, SIGN_UP, e=me["email"], n="Someone Else", p=PASSWORD))
    assert err["extensions"]["code"] == "ALREADY_EXISTS" and "already registered" in err["message"]
    assert stores.users.user_count() == before
    assert stores.users.user(me["email"]).name == me["name"]


def test_other_refusals_carry_their_codes(web, stores):
    token, _me = sign_up(web, "refusals")
    long_title = error(gql(web, "mutation($t: String!) { post(title: $t) { id } }", token, t="T" * 201))
    assert long_title["extensions"]["code"] == "BAD_INPUT" and "title" in long_title["message"]
    no_post = error(gql(web, 'mutation { like(postId: "no-such-post") { likes } }', token))
    assert no_post["extensions"]["code"] == "NOT_FOUND"
    no_user = error(gql(web, 'mutation { follow(followee: "nobody-here@example.org") { changed } }', token))
    assert no_user["extensions"]["code"] == "NOT_FOUND"
    bad_projector = error(gql(web, 'mutation { projector(name: "nope", action: KILL) }', token))
    assert bad_projector["extensions"]["code"] == "BAD_INPUT" and "unknown projector" in bad_projector["message"]
    bad_scenario = error(gql(web, 'mutation { runScenario(name: "no-such-scenario") }', token))
    assert bad_scenario["extensions"]["code"] == "BAD_INPUT"
    bad_limit = error(gql(web, "{ users(limit: 1000) { id } }"))
    assert bad_limit["extensions"]["code"] == "BAD_INPUT"
    syntax = gql(web, "{ this is not graphql")
    assert syntax["errors"] and "Syntax Error" in syntax["errors"][0]["message"]
    big = httpx.post(
        f"{web}/graphql", content=b"{" + b" " * 70_000 + b"}", headers={"content-type": "application/json"}
    )
    assert big.status_code == 413 and "request body over" in big.text


# ---------------------------------------------------------------- reads carry their consistency


def test_strong_eventual_and_read_your_writes(web, stack):
    token, me = sign_up(web, "reads", name="Reader One")
    strong = ok(gql(web, READ, token, id=me["email"], c="STRONG"))["user"]
    assert [(r["store"], r["found"], r["name"], r["verdict"]) for r in strong] == [
        ("postgres", True, "Reader One", "source of truth")
    ]
    assert strong[0]["lagMs"] == 0.0 and strong[0]["waitedMs"] is None
    ryw = ok(gql(web, READ, token, id=me["email"], c="READ_YOUR_WRITES"))["user"]
    assert {r["store"] for r in ryw} == {"redis", "neo4j"}
    for r in ryw:
        assert r["caughtUp"] is True and r["found"] is True and r["verdict"] == "in sync", r
        assert r["waitedMs"] is not None and r["waitedMs"] < 3000
        assert r["lagMessages"] is not None
    eventual = ok(gql(web, READ, token, id=me["email"], c="EVENTUAL"))["user"]
    assert all(r["waitedMs"] is None and r["consistency"] == "EVENTUAL" for r in eventual)


def test_with_the_cache_projector_stopped_eventual_is_stale_and_read_your_writes_says_it_waited(web, stack):
    from polydemo.pipeline import workers

    assert workers.stop(stack, "cache") in ("stopped", "killed")
    try:
        token, me = sign_up(web, "stale", name="Stale Reader")
        eventual = {r["store"]: r for r in ok(gql(web, READ, token, id=me["email"], c="EVENTUAL"))["user"]}
        assert eventual["redis"]["found"] is False and eventual["redis"]["verdict"] == "missing"
        t0 = time.monotonic()
        ryw = {r["store"]: r for r in ok(gql(web, READ, token, id=me["email"], c="READ_YOUR_WRITES"))["user"]}
        took = time.monotonic() - t0
        assert ryw["redis"]["caughtUp"] is False and ryw["redis"]["waitedMs"] >= 2900, ryw["redis"]
        assert took < 10, "the wait is bounded"
        assert ryw["neo4j"]["caughtUp"] is True, "the graph projector still runs"
    finally:
        workers.start(stack, "cache")
        workers.wait_running(stack, ["cache"], timeout=30)
    ryw = {r["store"]: r for r in ok(gql(web, READ, token, id=me["email"], c="READ_YOUR_WRITES"))["user"]}
    assert ryw["redis"]["caughtUp"] is True and ryw["redis"]["verdict"] == "in sync"


# ---------------------------------------------------------------- the stage controls


def test_projector_and_connector_controls(web, stack):
    from polydemo.pipeline import connector, workers

    token, _me = sign_up(web, "controls")
    try:
        assert ok(gql(web, 'mutation { projector(name: "analytics", action: KILL) }', token))["projector"] == "killed"
        assert not workers.status(stack, "analytics").running
        assert ok(gql(web, 'mutation { projector(name: "analytics", action: START) }', token))["projector"] == "started"
        assert ok(gql(web, "mutation { connector(action: PAUSE) }", token))["connector"].endswith("paused")
        wait_for(lambda: connector.states(connector.status(stack))[0] == "PAUSED", 20, what="the connector PAUSED")
    finally:
        gql(web, "mutation { connector(action: RESUME) }", token)
        workers.start(stack, "analytics")
    wait_for(lambda: connector.states(connector.status(stack))[0] == "RUNNING", 30, what="the connector RUNNING")
    workers.wait_running(stack, ["analytics"], timeout=30)


def test_run_scenario_narrates_on_the_live_feed_and_runs_one_at_a_time(web):
    from websockets.sync.client import connect

    token, _me = sign_up(web, "scenario")
    captions = []
    with connect(web.replace("http://", "ws://") + "/api/live", open_timeout=10) as ws:
        started = ok(gql(web, 'mutation { runScenario(name: "post") }', token))["runScenario"]
        assert started.startswith("scenario post started")
        busy = error(gql(web, 'mutation { runScenario(name: "post") }', token))
        assert busy["extensions"]["code"] == "BAD_INPUT" and "still running" in busy["message"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv(timeout=120))
            if msg["type"] == "caption":
                captions.append(msg["data"])
                if msg["data"]["text"].startswith("post passed") or msg["data"]["text"].startswith("post failed"):
                    break
    texts = [c["text"] for c in captions]
    assert any("The only write is to Mongo" in t for t in texts), texts
    assert texts[-1].startswith("post passed"), texts
    assert captions[-1]["ok"] is True and all(c["scenario"] == "post" for c in captions)


def test_health_users_and_the_published_schema(web):
    health = ok(gql(web, "{ health { ok runtime clients services { name ok label } } }"))["health"]
    assert health["runtime"] == "local"
    assert {s["name"] for s in health["services"]} >= {"postgres", "redis", "mongo", "neo4j", "kafka", "connect"}
    _t, me = sign_up(web, "listed")
    listed = ok(gql(web, "{ users(limit: 50) { email } }"))["users"]
    assert me["email"] in {u["email"] for u in listed}
    sdl = httpx.get(f"{web}/graphql/schema").text
    for name in ("signUp", "signIn", "READ_YOUR_WRITES", "type Subscription", "runScenario", "deleteMe"):
        assert name in sdl


# ---------------------------------------------------------------- the live side: snapshot, flows, subscriptions


def test_snapshot_endpoint_is_the_dashboards_model(web):
    from polydemo.dashboard.model import Snapshot

    r = httpx.get(f"{web}/api/snapshot", timeout=10)
    assert r.status_code == 200
    snap = Snapshot.from_dict(r.json())
    assert snap.runtime == "local" and snap.postgres is not None and snap.postgres.users > 0
    assert {s.name for s in snap.services} >= {"postgres", "kafka"}


def test_live_feed_pushes_snapshots_and_each_change_hop_by_hop(web):
    from websockets.sync.client import connect

    ws_url = web.replace("http://", "ws://") + "/api/live"
    with connect(ws_url, open_timeout=10) as ws:
        first = json.loads(ws.recv(timeout=10))
        assert first["type"] == "snapshot" and first["data"]["postgres"]["users"] > 0
        _token, me = sign_up(web, "live", name="Live Wire")
        deadline = time.monotonic() + 30
        complete = None
        while time.monotonic() < deadline and complete is None:
            msg = json.loads(ws.recv(timeout=30))
            if msg["type"] == "flow" and msg["data"]["key"] == me["id"] and msg["data"]["complete"]:
                complete = msg["data"]
    assert complete is not None, "no complete flow of the sign-up on /api/live within 30 s"
    assert complete["label"] == "Live Wire" and complete["entity"] == "user"
    nodes = [h["node"] for h in complete["hops"]]
    assert nodes[:2] == ["postgres", "kafka"] and {"neo4j", "redis", "timeseries"} <= set(nodes)
    ms = [h["ms"] for h in complete["hops"]]
    assert all(m is not None and m >= 0 for m in ms), ms
    for hop in complete["hops"][1:]:
        assert complete["hops"][hop["after"]]["at_ms"] <= hop["at_ms"], "a hop never happens before the one it follows"


def test_graphql_subscription_over_websocket(web):
    from websockets.sync.client import connect

    ws_url = web.replace("http://", "ws://") + "/graphql"
    with connect(ws_url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:
        ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "subscription { flows }"}}))
        ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": "subscription { snapshot }"}}))
        _token, me = sign_up(web, "sub")
        seen_snapshot = seen_flow = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (seen_snapshot and seen_flow):
            msg = json.loads(ws.recv(timeout=30))
            assert msg["type"] == "next", msg
            data = msg["payload"]["data"]
            if msg["id"] == "2":
                seen_snapshot = data["snapshot"]["runtime"] == "local"
            elif data["flows"]["key"] == me["id"]:
                seen_flow = True
    assert seen_snapshot and seen_flow


def test_ten_tabs_share_one_collector(web):
    from websockets.sync.client import connect

    ws_url = web.replace("http://", "ws://") + "/api/live"
    with contextlib.ExitStack() as opened:
        tabs = [opened.enter_context(connect(ws_url, open_timeout=10)) for _ in range(10)]
        firsts = [json.loads(t.recv(timeout=10)) for t in tabs]
        assert all(f["type"] == "snapshot" for f in firsts)
        before = httpx.get(f"{web}/api/health").json()
        assert before["clients"] >= 10
        time.sleep(4)
        after = httpx.get(f"{web}/api/health").json()
    collected = after["snapshots"] - before["snapshots"]
    assert 1 <= collected <= 6, f"{collected} snapshots in 4 s for 10 tabs: one collector feeds them all"


# ---------------------------------------------------------------- the service


def test_a_taken_port_is_one_clear_line(stack, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        # a home of its own: the suite's gateway may run for the suite's home ("already running" comes first)
        other = dataclasses.replace(stack, home=tmp_path, extra_ports={**stack.extra_ports, "web": port})
        with pytest.raises(PortInUseError, match=f"port {port} for the web gateway is already in use") as exc:
            service.start(other)
        assert "POLYDEMO_WEB_PORT" in (exc.value.hint or "")
    assert not service.status(other).running


def test_status_logs_and_already_running(web, stack):
    s = service.status(stack)
    assert s.running and s.healthy and s.url == web
    assert service.start(stack) == "already running"
    log = service.log_file(stack).read_text()
    assert f"polydemo web: listening on {web} (the presenter's: everything)" in log
    assert "audience's" not in log.rsplit("--- polydemo start", 1)[-1], "no audience listener unless asked for"
    assert PASSWORD not in log


def test_without_audience_nothing_listens_beyond_127_0_0_1(web, stack):
    import subprocess

    pid = service.status(stack).pid
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    mine = {line.split()[3] for line in out.splitlines() if f"pid={pid}," in line}
    assert mine == {f"127.0.0.1:{service.port(stack)}"}, f"the gateway listens on {mine}"
