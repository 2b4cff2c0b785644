"""Issue 9 on the real stack: still right an hour later, user text that cannot break the screen, the slot's cap."""

from __future__ import annotations

import json
import uuid

from typer.testing import CliRunner

from polydemo import reads, seed
from polydemo.cli import app
from polydemo.pipeline import workers
from polydemo.scenario import checks
from polydemo.scenario.model import Condition
from polydemo.scenario.runner import StackProbe
from polydemo.stores import Stores, cache, mongo, postgres

from .conftest import wait_for

runner = CliRunner()
PASSWORD = {"POLYDEMO_SIGNUP_PASSWORD": "stage-proof-pw", "COLUMNS": "200"}


def _converged(settings):
    stores = Stores(settings)
    try:
        return Condition(converged=True).evaluate(StackProbe(settings, stores), {})
    finally:
        stores.close()


def _users(settings) -> int:
    with postgres.connect(settings) as c:
        return c.execute("SELECT count(*) FROM users").fetchone()[0]


# ---------------------------------------------------------------- 1. the cache an hour later


def test_the_profile_projection_has_nothing_that_can_expire_or_be_evicted(stack):
    assert seed.wait_converged(stack, 60)
    gw = cache.Cache(stack)
    try:
        assert gw.expiring_keys() == [], "a key with a TTL: the projection would shrink within the hour"
        assert gw.client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        assert gw.profile_count() == _users(stack)
    finally:
        gw.close()


def test_an_hour_after_seed_the_tours_checks_still_pass(stack):
    """The hour, simulated: give every key the expiry 0.1's projector set and let it run out (as an hour
    would), as a stack made by 0.1 and upgraded would have it; restart the cache projector; then the
    tour's checks (converged, a read from Redis) pass, and no key expires any more."""
    wait_for(lambda: _converged(stack).ok, timeout=60, interval=0.5, what="converged before the hour")
    r = cache.connect(stack)
    try:
        profile_keys = [k for k in r.scan_iter("user:*", count=1000) if not k.startswith("user:email:")]
        assert profile_keys
        workers.stop(stack, "cache")
        r.delete(cache.PROFILES_INDEX)  # 0.1 had no index; its keys carried a 1 h TTL
        pipe = r.pipeline()
        for k in r.scan_iter("user:*", count=1000):
            pipe.expire(k, 3600)
        pipe.execute()
        assert r.ttl(profile_keys[0]) > 0
        assert workers.start(stack, "cache") == "started"
        wait_for(
            lambda: r.exists(cache.PROFILES_INDEX) and r.ttl(profile_keys[0]) == -1,
            timeout=30,
            what="the cache projector to index the profiles and drop their expiry",
        )
        # An hour later for the old design: keys gone. For the projection: nothing left to expire.
        assert cache.Cache(stack, r).expiring_keys() == []
    finally:
        r.close()
    outcome = _converged(stack)
    assert outcome.ok, outcome.seen
    with postgres.connect(stack) as c:
        email = c.execute("SELECT email FROM users ORDER BY email LIMIT 1").fetchone()[0]
    (redis_read,) = reads.read_user(stack, email, ["redis"])
    assert redis_read.verdict == "in sync", redis_read


def test_profile_count_is_one_definition_everywhere(stack):
    from polydemo.dashboard.snapshot import Collector

    assert seed.wait_converged(stack, 60)
    col = Collector(stack)
    try:
        snap = col.collect()
    finally:
        col.close()
    assert snap.redis is not None and snap.redis.profiles_exact
    assert snap.redis.profiles == checks.metric(stack, "cache_profiles") == cache.Cache(stack).profile_count()
    assert snap.redis.profiles == snap.postgres.users


# ---------------------------------------------------------------- 2. user text on every command

MARKUP = "[/x]"
ESC = "evil\x1b[2Jred"


def _ok(args, **kw):
    result = runner.invoke(app, args, env=PASSWORD, **kw)
    assert result.exit_code == 0, result.output
    return result


def _refused(args, what: str):
    before = _users_and_posts()
    result = runner.invoke(app, args, env=PASSWORD)
    assert result.exit_code == 1, result.output
    assert what in result.output and "Traceback" not in result.output
    assert "\x1b[2J" not in result.output
    assert _users_and_posts() == before, "a refused command wrote something"
    return result


def _users_and_posts() -> tuple[int, int]:
    from polydemo.config import Settings

    s = Settings.from_env()
    client = mongo.connect(s)
    try:
        return _users(s), client[s.mongo_db]["posts"].count_documents({})
    finally:
        client.close()


def test_markup_names_are_written_and_printed_as_text(stack):
    email = f"markup-{uuid.uuid4().hex[:6]}@example.org"
    out = _ok(["signup", email, "--name", MARKUP]).output
    assert MARKUP in out and "MarkupError" not in out
    assert _ok(["update-profile", email, "--name", "[bold]not bold[/bold]"]).output.count("[bold]") == 1
    table = _ok(["read", "user", email, "--from", "postgres"]).output
    assert "[bold]not bold[/bold]" in table
    post = _ok(["post", email, "--title", "[red]title[/red] שלום 👩‍💻", "--body", "line\n\tline", "--tag", "[x]"])
    assert "[red]title[/red] שלום 👩‍💻" in post.output
    post_id = post.output.split()[1]
    assert "now has 1 likes" in _ok(["like", post_id]).output
    other = f"markup2-{uuid.uuid4().hex[:6]}@example.org"
    _ok(["signup", other, "--name", "Zoë مرحبا 日本語"])
    assert "follows" in _ok(["follow", email, other]).output
    assert "unfollowed" in _ok(["unfollow", email, other]).output
    assert "deleted" in _ok(["delete-user", other]).output


def test_bad_text_is_refused_with_one_line_and_nothing_written(stack):
    email = f"bounds-{uuid.uuid4().hex[:6]}@example.org"
    _refused(["signup", email, "--name", "a" * 100_000], "over the limit of 200")
    _refused(["signup", email, "--name", ESC], "control character")
    _refused(["signup", email, "--name", "bidi\u202eevil"], "bidirectional")
    _refused(["signup", "a" * 320 + "@example.org", "--name", "x"], "over the limit of 320")
    _refused(["signup", f"x{ESC}@example.org", "--name", "x"], "the email contains a control character")
    _refused(["signup", "not-an-email", "--name", "x"], "not an email address")
    _ok(["signup", email, "--name", "Bounds"])
    _refused(["update-profile", email, "--name", "a" * 201], "over the limit of 200")
    _refused(["post", email, "--title", "a" * 201], "over the limit of 200")
    _refused(["post", email, "--title", "t", "--body", "b" * 10_001], "over the limit of 10,000")
    _refused(["post", email, "--title", ESC], "control character")
    _refused(["post", email, "--title", "t", "--tag", "t" * 51], "over the limit of 50")


def test_lookups_with_markup_or_escapes_fail_cleanly(stack):
    for args in (
        ["read", "user", f"{MARKUP}@example.org"],
        ["follow", MARKUP, ESC],
        ["delete-user", ESC],
        ["like", MARKUP],
    ):
        result = runner.invoke(app, args, env=PASSWORD)
        assert result.exit_code in (0, 1), result.output
        assert "Traceback" not in result.output and "MarkupError" not in result.output
        assert "\x1b[2J" not in result.output


# ---------------------------------------------------------------- 4. the replication slot


def test_slot_cap_retained_wal_and_unsent_age_are_shown(stack):
    from polydemo.dashboard.render import SLOT_AGE_WARN_S, render
    from polydemo.dashboard.snapshot import Collector
    from polydemo.pipeline import connector

    with postgres.connect(stack) as c:
        assert c.execute("SHOW max_slot_wal_keep_size").fetchone()[0] == "1GB"
        assert c.execute("SHOW track_commit_timestamp").fetchone()[0] == "on"
    connector.pause(stack)
    try:
        wait_for(lambda: connector.states(connector.status(stack))[0] == "PAUSED", what="connector paused")
        _ok(["signup", f"slot-{uuid.uuid4().hex[:6]}@example.org", "--name", "Unsent"])
        info, _ = wait_for(
            lambda: (lambda i: i if (i.oldest_unsent_age_s or 0) >= SLOT_AGE_WARN_S else None)(_slot(stack)),
            timeout=20,
            interval=0.5,
            what="an unsent change old enough for the footer's warning",
        )
        assert info.cap_bytes == 1024**3 and info.retained_bytes > 0 and not info.invalidated
        status = json.loads(_ok(["status", "--json"]).stdout)
        assert status["slot"]["cap_bytes"] == 1024**3 and status["slot"]["oldest_unsent_age_s"] >= SLOT_AGE_WARN_S
        col = Collector(stack)
        try:
            snap = col.collect()
        finally:
            col.close()
        assert snap.postgres.slot is not None and snap.postgres.slot.oldest_unsent_age_s >= 1
        from io import StringIO

        from rich.console import Console

        buf = StringIO()
        Console(file=buf, width=100, color_system=None).print(render(snap, width=100, height=30))
        assert "oldest unsent change" in buf.getvalue() and "of the 1.00 GB cap" in buf.getvalue()
    finally:
        connector.resume(stack)
    wait_for(lambda: _converged(stack).ok, timeout=60, interval=0.5, what="converged after the resume")
    # Debezium confirms what it sent at its next offset flush (offset.flush.interval.ms=1000).
    wait_for(
        lambda: _slot(stack).oldest_unsent_age_s is None,
        timeout=30,
        interval=0.5,
        what="nothing unsent once Debezium confirmed the backlog",
    )


def _slot(settings):
    with postgres.connect(settings) as c:
        return postgres.slot_info(c, settings.slot_name, settings.publication)


def test_a_slot_past_its_cap_is_invalidated_shown_in_red_and_reset_recovers(stack):
    """Connector paused, 1 GB of WAL written: Postgres invalidates the slot; status and the dashboard say
    what happened and name `polydemo reset`, which recreates the slot and converges."""
    from io import StringIO

    from rich.console import Console

    from polydemo import reset
    from polydemo.dashboard.render import render
    from polydemo.dashboard.snapshot import Collector
    from polydemo.pipeline import connector

    connector.pause(stack)
    wait_for(lambda: connector.states(connector.status(stack))[0] == "PAUSED", what="connector paused")
    with postgres.connect(stack) as c:
        c.execute("CREATE TABLE IF NOT EXISTS wal_filler (x int)")  # not in the publication: no CDC events
        cap = int(
            c.execute(
                "SELECT setting::bigint * 1024 * 1024 FROM pg_settings WHERE name = 'max_slot_wal_keep_size'"
            ).fetchone()[0]
        )
        segment = int(
            c.execute("SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'").fetchone()[0]
        )
        for _ in range(cap // segment + 4):  # each switch moves the LSN a whole segment on
            c.execute("INSERT INTO wal_filler VALUES (1)")
            c.execute("SELECT pg_switch_wal()")
        c.execute("CHECKPOINT")
    info, seconds = wait_for(
        lambda: (lambda i: i if i.invalidated else None)(_slot(stack)),
        timeout=60,
        interval=1.0,
        what="the slot invalidated by the checkpoint",
    )
    print(f"\n[slot] invalidated {seconds:.1f}s after the checkpoint ({info.wal_status})")
    status = runner.invoke(app, ["status"], env={"COLUMNS": "300"})
    assert "INVALIDATED" in status.output and "polydemo reset" in status.output, status.output
    data = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert data["slot"]["invalidated"] is True
    col = Collector(stack)
    try:
        snap = col.collect()
    finally:
        col.close()
    buf = StringIO()
    Console(file=buf, width=100, color_system=None).print(render(snap, width=100, height=30))
    assert "the slot was invalidated" in buf.getvalue() and "`polydemo reset`" in buf.getvalue()

    reset.reset(stack, say=lambda _m: None)
    after = _slot(stack)
    assert after.exists and not after.invalidated and after.wal_status == "reserved"
    assert connector.states(connector.status(stack))[0] == "RUNNING"
    wait_for(lambda: _converged(stack).ok, timeout=90, interval=0.5, what="converged after the reset")


def test_connector_restart_on_a_running_connector_restarts_nothing_and_it_keeps_streaming(stack):
    """Real Connect takes KIP-745's restart (only what FAILED, tasks included): with nothing failed it restarts
    nothing, and a sign-up made after it still reaches the read models."""
    result = runner.invoke(app, ["connector", "restart", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["restarted"], data["state"], data["tasks"]) == ([], "RUNNING", ["RUNNING"])
    email = f"restart-{uuid.uuid4().hex[:8]}@example.com"
    signed = runner.invoke(app, ["signup", email, "--name", "After Restart"], env=PASSWORD)
    assert signed.exit_code == 0, signed.output
    with cache.Cache(stack) as redis:
        wait_for(lambda: redis.user_id(email), timeout=30, what="the sign-up in Redis after the restart")
    line = runner.invoke(app, ["connector", "restart"], env={"COLUMNS": "200"})
    assert "nothing had failed; RUNNING, tasks RUNNING" in line.output, line.output
    assert runner.invoke(app, ["delete-user", email]).exit_code == 0
