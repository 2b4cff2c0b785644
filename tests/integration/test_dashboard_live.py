"""Issue 5: the live dashboard on the real stack: a sign-up shows in the next frame, then in the read models.

Self-sufficient: it starts from the seeded sample (``reset``) with every service up, instead of relying
on running before the drills and scenarios. After them the stack holds ~11,000 users, more than the
dashboard's bounded Redis SCAN counts exactly in one frame, so the "in sync" claim could not hold."""

from __future__ import annotations

import io
import time
import uuid

from rich.console import Console

from polydemo import reset
from polydemo.dashboard.render import render
from polydemo.dashboard.snapshot import Collector
from polydemo.domain import users

from .conftest import wait_for


def frame_text(snap, prev) -> str:
    console = Console(record=True, width=100, height=30, file=io.StringIO())
    console.print(render(snap, prev, width=100, height=30))
    return console.export_text()


def healthy_frame(collector):
    snap = collector.collect()
    return snap if all(s.ok for s in snap.services) else None


def test_signup_shows_in_the_next_frame_then_reaches_neo4j_and_redis(stack):
    collector = Collector(stack, "local")
    try:
        reset.reset(stack, say=lambda message: None)  # the seeded sample, the projections caught up
        before, _ = wait_for(
            lambda: healthy_frame(collector), timeout=30, interval=0.5, what="a frame with every service healthy"
        )
        assert before.service("timeseries").label.startswith(("PostgreSQL", "TimescaleDB"))

        email = f"dash-{uuid.uuid4().hex[:8]}@example.org"
        user = users.signup(stack, email, "Dash Live", "correct horse battery")

        # The very next frame has it in the Postgres panel's data (strong read) ...
        snap = collector.collect(before)
        assert snap.ok("postgres")
        assert snap.postgres.users == before.postgres.users + 1
        assert snap.postgres.latest[0].id == user.id and snap.postgres.latest[0].email == email
        text = frame_text(snap, before)
        assert "+ Dash Live" in text and f"{snap.postgres.users} users (+1)" in text

        # ... and within 5 s the read models' counts catch up (eventual reads), with the user cached.
        deadline = time.monotonic() + 5.0
        while True:
            snap = collector.collect(snap)
            pg = snap.postgres.users if snap.postgres else None
            synced = (
                snap.neo4j is not None
                and snap.redis is not None
                and pg is not None
                and snap.neo4j.users == pg
                and snap.redis.profiles == pg
            )
            cached = snap.redis is not None and any(p.id == user.id and p.ttl is not None for p in snap.redis.sample)
            in_feed = any(f.topic.endswith("users") and f.detail == "Dash Live" for f in snap.feed)
            if synced and cached and in_feed:
                break
            assert time.monotonic() < deadline, (
                f"not caught up after 5 s: postgres {pg}, neo4j {snap.neo4j and snap.neo4j.users}, "
                f"redis {snap.redis and snap.redis.profiles}, cached {cached}, in feed {in_feed}"
            )
            time.sleep(0.1)
        profile = next(p for p in snap.redis.sample if p.id == user.id)
        assert profile.ttl == -1 and profile.name == "Dash Live"  # projected: no expiry (issue 9)
        assert "Redis and Neo4j in sync with Postgres" in frame_text(snap, before)
    finally:
        collector.close()


def test_screen_counts_are_exact_while_small_and_estimates_track_the_real_counts(stack):
    """The dashboard's counts: exact below the threshold; past it (threshold 1 here) the planner's estimate,
    which after ANALYZE is within a few rows of the exact count. Checks keep using the exact ``counts()``."""
    from polydemo.stores.postgres import Users
    from polydemo.stores.timeseries import Events

    with Users(stack) as gw:
        exact_users, exact_follows = gw.counts()
        assert gw.screen_counts() == (exact_users, exact_follows, False, False)
        gw.conn.execute("ANALYZE users")
        gw.conn.execute("ANALYZE follows")
        users_est, follows_est, u_flag, f_flag = gw.screen_counts(exact_below=1)
        assert u_flag and f_flag
        assert abs(users_est - exact_users) <= max(2, exact_users // 20)
        assert abs(follows_est - exact_follows) <= max(2, exact_follows // 20)
    events = Events(stack)
    try:
        total, _, _ = events.per_minute(15)
        assert not events.total_estimated
        events.conn.execute("ANALYZE events")
        est, _, _ = events.per_minute(15, exact_below=1)
        assert events.total_estimated and abs(est - total) <= max(2, total // 20)
    finally:
        events.close()


def test_the_per_minute_counts_follow_inserts_replays_and_deletes_exactly(stack):
    """The sparklines read ``events_per_minute``, kept by the statements that write events: after new events
    (one 14 minutes ago, two now), a replay of the same batch (nothing added) and a delete, the buckets equal
    a count of the events themselves."""
    import datetime as dt

    from polydemo.stores.timeseries import Events

    events = Events(stack)
    uid = str(uuid.uuid4())
    now = dt.datetime.now(dt.UTC)
    batch = [
        {"time": t, "user_id": uid, "event_type": "bench_probe", "properties": {}, "event_id": f"test:{uid}:{i}"}
        for i, t in enumerate([now - dt.timedelta(minutes=14), now, now])
    ]
    try:
        _, _, before = events.per_minute(15)
        events.insert(batch)
        events.insert(batch)  # a replay: the events are there already, so nothing is counted twice
        _, _, after = events.per_minute(15)
        assert after == events.per_minute_counted(15)
        assert sum(after["bench_probe"]) == sum(before.get("bench_probe", [0])) + 3
        assert after["bench_probe"][-1] >= 2 and after["bench_probe"][0] + after["bench_probe"][1] >= 1
        assert events.delete_history([uid], []) == 3
        _, _, gone = events.per_minute(15)
        assert gone == events.per_minute_counted(15)
        assert gone.get("bench_probe", [0] * 15) == before.get("bench_probe", [0] * 15)
    finally:
        events.delete_history([uid], [])
        events.close()


def test_the_redis_panel_knows_how_full_redis_is(stack):
    """INFO memory of the real server: the 256 MB maxmemory the runtime starts it with, and what it uses."""
    from polydemo.dashboard.render import redis_memory_warning
    from polydemo.dashboard.snapshot import Collector

    collector = Collector(stack, "local")
    try:
        snap = collector.collect()
    finally:
        collector.close()
    assert snap.redis is not None, snap.service("redis")
    assert snap.redis.maxmemory == 256 * 2**20
    assert snap.redis.used_memory is not None and 0 < snap.redis.used_memory < snap.redis.maxmemory
    assert redis_memory_warning(snap) is None  # a seeded stack is far from full
