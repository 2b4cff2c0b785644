"""Issue 3: the data flow on the real stack: sign-up, follow, post and like through CDC to every read model."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer

from polydemo import seed
from polydemo.domain import posts, users
from polydemo.errors import PolydemoError
from polydemo.pipeline import workers
from polydemo.pipeline.events import topics
from polydemo.pipeline.loop import dlq_topic
from polydemo.stores import cache, graph, kafka, mongo, postgres, timeseries

from .conftest import wait_for


def graph_user(settings, uid):
    with graph.connect(settings) as d, d.session() as s:
        rec = s.run("MATCH (u:User {id: $id}) RETURN u.name AS name", id=uid).single()
        return rec["name"] if rec else None


def events_for(settings, uid, event_type):
    with timeseries.connect(settings) as c:
        return c.execute(
            "SELECT count(*) FROM events WHERE user_id = %s AND event_type = %s", (uid, event_type)
        ).fetchone()[0]


def test_signup_reaches_graph_cache_and_analytics(stack):
    email = f"grace-{uuid.uuid4().hex[:6]}@example.org"
    user = users.signup(stack, email, "Grace Test", "correct horse battery")
    r = cache.connect(stack)
    _, t_graph = wait_for(lambda: graph_user(stack, user.id) == "Grace Test", what="user in Neo4j")
    _, t_cache = wait_for(lambda: r.hget(cache.profile_key(user.id), "name") == "Grace Test", what="profile in Redis")
    _, t_ts = wait_for(lambda: events_for(stack, user.id, "signed_up") == 1, what="signed_up event")
    print(
        f"\n[propagation] neo4j {t_graph * 1000:.0f} ms, redis {t_cache * 1000:.0f} ms, analytics {t_ts * 1000:.0f} ms"
    )
    assert r.ttl(cache.profile_key(user.id)) == -1  # a projection: no expiry (issue 9)
    # The password is hashed with argon2id and appears in no read model.
    with postgres.connect(stack) as c:
        hashed = c.execute("SELECT hashed_password FROM users WHERE id = %s", (user.id,)).fetchone()[0]
    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed
    assert "hashed_password" not in r.hgetall(cache.profile_key(user.id))


def test_profile_update_and_delete_propagate(stack):
    user = users.signup(stack, f"upd-{uuid.uuid4().hex[:6]}@example.org", "Before", "long enough pw")
    r = cache.connect(stack)
    wait_for(lambda: r.hget(cache.profile_key(user.id), "name") == "Before", what="cached")
    users.update_profile(stack, user.email, "After")
    wait_for(lambda: r.hget(cache.profile_key(user.id), "name") == "After", what="cache updated")
    wait_for(lambda: graph_user(stack, user.id) == "After", what="graph updated")
    wait_for(lambda: events_for(stack, user.id, "profile_updated") == 1, what="profile_updated event")
    users.delete_user(stack, user.email)
    wait_for(lambda: not r.exists(cache.profile_key(user.id)), what="cache invalidated")
    wait_for(
        lambda: graph_user(stack, user.id) is None and not r.exists(cache.email_key(user.email)),
        what="graph node removed",
    )


def test_follow_and_unfollow(stack):
    a = users.signup(stack, f"fa-{uuid.uuid4().hex[:6]}@example.org", "Follower", "long enough pw")
    b = users.signup(stack, f"fb-{uuid.uuid4().hex[:6]}@example.org", "Followee", "long enough pw")
    users.follow(stack, a.email, b.email)
    q = "MATCH (:User {id: $a})-[f:FOLLOWS]->(:User {id: $b}) RETURN count(f) AS c"
    with graph.connect(stack) as d, d.session() as s:
        wait_for(lambda: s.run(q, a=a.id, b=b.id).single()["c"] == 1, what="FOLLOWS edge")
    r = cache.connect(stack)
    wait_for(lambda: r.scard(cache.followers_key(b.id)) == 1, what="follower count in Redis")
    wait_for(lambda: events_for(stack, a.id, "followed") == 1, what="followed event")
    users.unfollow(stack, a.email, b.email)
    with graph.connect(stack) as d, d.session() as s:
        wait_for(lambda: s.run(q, a=a.id, b=b.id).single()["c"] == 0, what="edge removed")
    wait_for(lambda: r.scard(cache.followers_key(b.id)) == 0, what="follower count back to 0")
    wait_for(lambda: events_for(stack, a.id, "unfollowed") == 1, what="unfollowed event")


def test_post_and_like(stack):
    author = users.require_user(stack, "ada.lovelace@example.org")
    doc = posts.create_post(stack, author.id, "CDC for posts", "via the change stream", ["streaming"])
    client = mongo.connect(stack)
    assert client[stack.mongo_db]["posts"].find_one({"_id": doc["_id"]})["meta"]["likes"] == 0

    def post_events(kind):
        with timeseries.connect(stack) as c:
            return c.execute(
                "SELECT count(*) FROM events WHERE event_type = %s AND properties->>'post_id' = %s", (kind, doc["_id"])
            ).fetchone()[0]

    wait_for(lambda: post_events("posted") == 1, what="posted event")
    liked = posts.like_post(stack, doc["_id"])
    assert liked["meta"]["likes"] == 1
    wait_for(lambda: post_events("liked") == 1, what="liked event")


def test_duplicate_email_is_a_clear_error_and_writes_nothing(stack):
    email = f"dup-{uuid.uuid4().hex[:6]}@example.org"
    users.signup(stack, email, "First", "long enough pw")
    with postgres.connect(stack) as c:
        before = c.execute("SELECT count(*) FROM users").fetchone()[0]
    assert seed.wait_converged(stack, 30)
    highs = {t: _high(stack, t) for t in topics(stack.topic_prefix).values()}
    with pytest.raises(PolydemoError, match="already registered; nothing was written"):
        users.signup(stack, email.upper(), "Second", "long enough pw")
    with postgres.connect(stack) as c:
        assert c.execute("SELECT count(*) FROM users").fetchone()[0] == before
    assert {t: _high(stack, t) for t in highs} == highs, "a change event was emitted for a failed sign-up"


def _high(settings, topic):
    """The topic's high watermarks, every partition (six, keyed)."""
    with kafka.KafkaAdmin(settings) as admin:
        return admin.high_watermarks([topic])


def counts(settings):
    with postgres.connect(settings) as c:
        u = c.execute("SELECT count(*) FROM users").fetchone()[0]
        f = c.execute("SELECT count(*) FROM follows").fetchone()[0]
    p = mongo.connect(settings)[settings.mongo_db]["posts"].count_documents({})
    with graph.connect(settings) as d, d.session() as s:
        n = s.run("MATCH (u:User) RETURN count(u) AS c").single()["c"]
        e = s.run("MATCH ()-[f:FOLLOWS]->() RETURN count(f) AS c").single()["c"]
    r = cache.connect(settings)
    k = sum(1 for _ in r.scan_iter("user:email:*", count=1000))
    with timeseries.connect(settings) as c:
        ev = c.execute("SELECT count(*) FROM events").fetchone()[0]
    return {"users": u, "follows": f, "posts": p, "nodes": n, "edges": e, "cached": k, "events": ev}


def test_seed_twice_gives_identical_counts(stack):
    assert seed.wait_converged(stack, 60)
    first = counts(stack)
    result = seed.seed(stack)
    assert (result.users_added, result.follows_added, result.posts_added) == (0, 0, 0)
    assert seed.wait_converged(stack, 60)
    assert counts(stack) == first
    assert first["users"] == first["nodes"] == first["cached"]
    assert first["follows"] == first["edges"]


def test_poison_message_goes_to_dlq_and_projectors_stay_up(stack):
    marker = uuid.uuid4().hex
    p = Producer(kafka.client_config(stack, **{"linger.ms": 0}))
    p.produce(topics(stack.topic_prefix)["users"], key=marker.encode(), value=b"{not json " + marker.encode())
    assert p.flush(10) == 0
    c = Consumer(kafka.client_config(stack, **{"group.id": f"dlq-probe-{marker}", "auto.offset.reset": "earliest"}))
    c.subscribe([dlq_topic(stack)])
    found = {}
    try:

        def seen():
            m = c.poll(0.2)
            if m is not None and not m.error() and m.key() == marker.encode():
                found[dict(m.headers())["dlq.projector"].decode()] = dict(m.headers())["dlq.reason"].decode()
            return len(found) == 3

        wait_for(seen, timeout=20, interval=0, what="one DLQ record per projector")
    finally:
        c.close()
    assert set(found) == {"graph", "cache", "analytics"}
    assert all("not JSON" in reason for reason in found.values())
    for name in workers.PROJECTOR_NAMES:
        st = workers.status(stack, name)
        assert st.running and st.state == "running", st
    assert seed.wait_converged(stack, 30)
    # ...and the pipeline still flows after the poison.
    u = users.signup(stack, f"after-poison-{marker[:6]}@example.org", "Still Flowing", "long enough pw")
    wait_for(lambda: graph_user(stack, u.id) == "Still Flowing", what="a sign-up after the poison")
