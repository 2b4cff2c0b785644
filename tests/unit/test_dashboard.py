"""The dashboard renderer on recorded snapshots (tests/unit/fixtures/, see its README): no servers needed."""

from __future__ import annotations

import io
import json
import socket
import time
from pathlib import Path
from typing import ClassVar

import pytest
from rich.console import Console
from typer.testing import CliRunner

from polydemo.cli import app
from polydemo.dashboard.render import age, clock, render, sparkline, staleness, ttl_text
from polydemo.dashboard.snapshot import Collector, Snapshot

FIXTURES = Path(__file__).parent / "fixtures"
ALL = [
    "snapshot_prev",
    "snapshot_live",
    "snapshot_redis_down",
    "snapshot_lagging",
    "snapshot_lagging_prev",
    "snapshot_empty",
]


def load(name: str) -> Snapshot:
    return Snapshot.from_dict(json.loads((FIXTURES / f"{name}.json").read_text()))


def text_of(renderable, width: int = 100, height: int = 30, no_color: bool = True) -> str:
    console = Console(
        record=True,
        width=width,
        height=height,
        no_color=no_color,
        force_terminal=True,
        color_system=None if no_color else "truecolor",
        file=io.StringIO(),
    )
    console.print(renderable, crop=True)
    return console.export_text()


def frame(name: str, prev: str | None = None, width: int = 100, height: int = 30, **kw) -> str:
    return text_of(render(load(name), load(prev) if prev else None, width=width, height=height, **kw), width, height)


# ---------------------------------------------------------------- data


@pytest.mark.parametrize("name", ALL)
def test_snapshot_round_trips_through_json(name):
    snap = load(name)
    again = Snapshot.from_json(json.dumps(snap.to_dict()))
    assert again == snap
    assert json.loads(snap.to_json()) == json.loads((FIXTURES / f"{name}.json").read_text())


def test_formatters():
    assert sparkline([0, 1, 2, 4, 8]) == "▁▂▃▅█"
    assert sparkline([0, 0, 0]) == "▁▁▁"
    assert sparkline([1, 200])[0] == "▂"  # any event shows above the zero line
    assert age(0.2) == "now" and age(42) == "42s" and age(130) == "2m" and age(7300) == "2h"
    assert ttl_text(None) == "not in Redis yet" and ttl_text(-1) == "projected" and ttl_text(3599) == "TTL 59m59s"


# ---------------------------------------------------------------- panels on a healthy stack


def test_live_frame_shows_every_panel_with_its_rows():
    snap = load("snapshot_live")
    text = frame("snapshot_live")
    # Header: runtime, and the engine of every service.
    assert "local runtime" in text and "all 7 services healthy" in text
    assert "PostgreSQL 15, partitioned (timescaledb not installed)" in text
    for svc in snap.services:
        assert f"✔ {svc.name} {svc.label}" in text
    # Postgres: total and the latest users.
    assert f"{snap.postgres.users} users" in text and "Cleo Dash" in text and "Ben Dash" in text
    # Mongo: count and latest posts with likes.
    first_post = snap.mongo.latest[0]
    assert f"{snap.mongo.posts} posts" in text and f"♥ {first_post.likes}" in text
    # Neo4j: nodes, edges, most followed.
    assert f"{snap.neo4j.nodes} nodes · {snap.neo4j.follows} FOLLOWS" in text
    assert snap.neo4j.top[0].name in text and f"{snap.neo4j.top[0].followers} followers" in text
    # Time-series: a sparkline per event type.
    assert "signed_up" in text and any(ch in text for ch in "▂▃▄▅▆▇█")
    # Redis: profile count, key count, hit/miss, cached profiles with their TTL.
    assert f"{snap.redis.profiles} profiles · {snap.redis.keys} keys" in text and "hit/miss" in text
    assert "TTL " in text
    # Kafka: partitions with their high watermark, groups with committed offset and lag.
    # At 100 columns lag as time and its trend take the committed column's place (wider frames have both).
    assert "users 0" in text and "projector" in text and "age" in text and "last min" in text
    for g in snap.kafka.groups:
        assert g.projector in text
    # Connect and the pipeline processes.
    assert "polydemo-users RUNNING" in text and "task 0 RUNNING" in text
    for w in snap.projectors:
        assert w.name in text
    # Event feed: newest first.
    assert "new Cleo Dash" in text
    # In sync.
    assert f"✔ Redis and Neo4j in sync with Postgres ({snap.postgres.users} users" in text


def test_changes_since_prev_are_marked():
    prev, snap = load("snapshot_prev"), load("snapshot_live")
    text = frame("snapshot_live", "snapshot_prev")
    assert snap.postgres.users == prev.postgres.users + 1
    assert f"{snap.postgres.users} users (+1)" in text
    assert "+ Cleo Dash" in text  # the new Postgres row, and its cache entry
    assert text.count("+ Cleo Dash") == 2
    assert "+ " in text.split("Event feed")[1]  # the new message in the feed
    # Without a previous frame nothing is marked as new.
    assert "+ Cleo Dash" not in frame("snapshot_live")


# ---------------------------------------------------------------- trouble


def test_down_store_says_since_when():
    snap = load("snapshot_redis_down")
    since = clock(snap.service("redis").down_since)
    text = frame("snapshot_redis_down")
    assert f"✘ redis down since {since}" in text  # header
    assert f"✘ down since {since}" in text  # its panel
    assert "ConnectionError: Error 111" in text
    assert "1 of 7 services down" in text
    assert "Redis is" not in text  # no staleness verdict about a store we cannot read
    assert "✔ Neo4j in sync with Postgres" in text


def test_down_since_is_carried_over_from_the_previous_frame():
    """Against ports where nothing listens: every store is down, collect() never raises, and the
    first-failure time survives the next frame."""
    from polydemo.config import SERVICES, Settings

    ports = {}
    socks = []
    for name in (*SERVICES, "kafka_controller"):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports[name] = s.getsockname()[1]
    for s in socks:
        s.close()
    settings = Settings.from_env(home="/nonexistent-polydemo-home").with_overrides(
        ports={k: v for k, v in ports.items() if k in SERVICES},
        extra_ports={"kafka_controller": ports["kafka_controller"]},
    )
    collector = Collector(settings, "local", timeout=0.5)
    try:
        first = collector.collect()
        assert not any(s.ok for s in first.services)
        time.sleep(0.05)
        second = collector.collect(first)
        assert [s.down_since for s in second.services] == [s.down_since for s in first.services]
        assert all(w.state == "stopped" for w in second.projectors)
        text = text_of(render(second, first))
        assert "7 of 7 services down" in text and f"down since {clock(first.taken_at)}" in text
    finally:
        collector.close()


def test_lagging_groups_show_lag_trend_and_staleness():
    text = frame("snapshot_lagging", "snapshot_lagging_prev")
    kafka = text.split("Kafka · offsets & lag")[1]
    cache_line = next(line for line in kafka.splitlines() if "│ cache" in line)
    graph_line = next(line for line in kafka.splitlines() if "│ graph" in line)
    assert "12↑" in cache_line  # behind and falling further behind
    assert "3↓" in graph_line  # behind and catching up
    assert "Redis is 12 users behind Postgres (cache lag 12)" in text
    assert "Neo4j is 3 users behind Postgres (graph lag 3)" in text
    assert "not in Redis yet" in text  # the newest user has not reached Redis yet
    snap = load("snapshot_lagging")
    assert ("⚠ Redis is 12 users behind Postgres (cache lag 12)", "bold yellow") in staleness(snap)


def test_lag_is_coloured_by_severity():
    console = Console(record=True, width=100, force_terminal=True, color_system="truecolor", file=io.StringIO())
    console.print(render(load("snapshot_lagging"), load("snapshot_lagging_prev")))
    html = console.export_html(inline_styles=True)
    assert "color: #800000" in html or "color: #ff0000" in html  # red: rising lag
    assert "color: #808000" in html or "color: #ffff00" in html  # yellow: lag, falling


def test_empty_stores():
    text = frame("snapshot_empty")
    assert "0 users" in text and "no users yet" in text
    assert "0 posts" in text and "no posts yet" in text
    assert "0 nodes" in text and "no FOLLOWS edges yet" in text
    assert "no events in the last 15 min" in text
    assert "no messages yet" in text


# ---------------------------------------------------------------- sizes, scenario, plain text


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("size", [(100, 30), (60, 20), (140, 45), (40, 12), (24, 6)])
def test_fits_the_screen(name, size):
    width, height = size
    text = frame(name, width=width, height=height)
    lines = text.rstrip("\n").split("\n")
    assert len(lines) <= height
    assert max(len(line) for line in lines) <= width


def test_small_screen_drops_panels_not_the_essentials():
    text = frame("snapshot_lagging", "snapshot_lagging_prev", width=60, height=20)
    assert "Postgres · users" in text and "Kafka · offsets & lag" in text
    assert "12↑" in text
    assert "Redis is 12 users behind" in text


def test_scenario_panel_ticks_steps_off():
    scenario = {
        "name": "cache outage",
        "steps": ["sign up", "stop redis", "sign up again", "start redis"],
        "current": 2,
        "caption": "Postgres keeps taking writes while Redis is down",
    }
    text = frame("snapshot_redis_down", width=100, height=30, scenario=scenario)
    assert "scenario: cache outage · step 3/4" in text
    assert "✔ sign up  ✔ stop redis  ▶ sign up again  · start redis" in text
    assert "Postgres keeps taking writes while Redis is down" in text
    assert len(text.rstrip("\n").split("\n")) <= 30


def test_plain_text_has_no_escape_codes_with_no_color(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    from io import StringIO

    from polydemo.console import Environment

    env = Environment(stdout=StringIO(), stderr=StringIO(), width=100, force_terminal=True)
    env.out.print(render(load("snapshot_lagging"), load("snapshot_lagging_prev")))
    out = env.stdout.getvalue()
    assert "\x1b[3" not in out and "\x1b[9" not in out  # no colour codes (bold/dim may stay)
    assert "12↑" in out and "Redis is 12 users behind Postgres" in out


# ---------------------------------------------------------------- CLI


def test_record_writes_svg_and_html(tmp_path):
    from polydemo.cli.watch import _record

    class St:
        class env:
            messages: ClassVar[list] = []

            @classmethod
            def info(cls, m):
                cls.messages.append(m)

    for suffix in (".svg", ".html"):
        path = tmp_path / f"frame{suffix}"
        _record(St, path, load("snapshot_live"), load("snapshot_prev"))
        body = path.read_text()
        assert ("<svg" in body) if suffix == ".svg" else ("<html" in body.lower())
        assert "Cleo" in body


def test_record_rejects_unknown_format():
    result = CliRunner().invoke(app, ["snapshot", "--record", "frame.png"])
    assert result.exit_code == 1
    assert "unknown format .png" in result.output and "Traceback" not in result.output


def test_lag_as_time_and_its_trend_from_a_recorded_snapshot():
    from polydemo.dashboard.render import lag_age
    from polydemo.dashboard.snapshot import lag_trend

    text = frame("snapshot_lagging", "snapshot_lagging_prev")
    rows = {line.split("│")[-2].split()[0]: line.split("│")[-2] for line in text.splitlines() if line.count("│") >= 2}
    assert "2.4s" in rows["graph"] and "▁▁▁▁▃▅▇█" in rows["graph"]
    assert "14s" in rows["cache"] and rows["cache"].rstrip().endswith("█")
    assert " 0s ▁▁▁▁▁▁▁▁" in rows["analytics"]
    assert all(len(line) <= 100 for line in text.splitlines()) and len(text.splitlines()) <= 30
    assert (lag_age(None), lag_age(0.0), lag_age(1.44), lag_age(73.2)) == ("?", "0s", "1.4s", "73s")
    # The collector's history -> one highest value per 7.5 s slot of the last minute, oldest first.
    hist = [(100.0, 1.0), (101.0, 3.0), (155.0, 2.0), (30.0, 9.0)]  # 100 and 30 are a minute old or more
    assert lag_trend(hist, now=160.0) == [3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0]


def test_estimated_counts_are_marked_and_staleness_comes_from_lag():
    """At scale Postgres' and the events' counts are catalog estimates: shown with "≈", and the footer judges the
    read models by their lag, never by a difference against an estimate."""
    snap = load("snapshot_live")
    assert snap.postgres is not None and snap.timeseries is not None
    snap.postgres.users_estimated = snap.postgres.follows_estimated = True
    snap.timeseries.events_estimated = True
    snap.postgres.users += 1234  # an estimate a little off must not read as "Redis is 1234 users behind"
    text = frame_of(snap)
    assert f"≈{snap.postgres.users} users" in text
    assert f"≈{snap.timeseries.events} events" in text
    messages = [m for m, _ in staleness(snap)]
    assert not any("behind" in m for m in messages), messages
    assert any("caught up" in m and "lag 0" in m for m in messages), messages
    assert snap.kafka is not None
    next(g for g in snap.kafka.groups if g.projector == "cache").lag = 7
    assert any("Redis is 7 changes behind" in m for m, _ in staleness(snap))


def test_exact_counts_have_no_mark():
    assert "≈" not in frame("snapshot_live")


def frame_of(snap: Snapshot) -> str:
    return text_of(render(snap, None, width=100, height=30), 100, 30)


def test_a_slow_first_mongo_count_reads_as_counting_not_down():
    """At 50,000 posts SecantusDB's first count takes seconds; the panel said "down" until it ended."""
    from polydemo.dashboard.snapshot import MongoData

    snap = load("snapshot_live")
    snap.mongo = MongoData(None)
    text = frame_of(snap)
    assert "counting the posts…" in text
    assert snap.ok("mongo")
    mongo_panel = [line for line in text.splitlines() if "Mongo" in line]
    assert mongo_panel and not any("down" in line.lower() for line in mongo_panel), mongo_panel
    again = Snapshot.from_json(json.dumps(snap.to_dict()))
    assert again.mongo is not None and again.mongo.posts is None


def test_a_redis_near_its_maxmemory_is_named_in_the_footer_with_the_fix():
    """Redis runs with noeviction: at its maxmemory (256 MB, ~380,000 sign-ups) it refuses the cache projector's
    writes and only the lag said so."""
    from polydemo.dashboard.render import redis_memory_warning

    snap = load("snapshot_live")
    assert snap.redis is not None
    assert redis_memory_warning(snap) is None  # recorded before the memory was read: nothing to say
    snap.redis.maxmemory = 256 * 2**20
    snap.redis.used_memory = 100 * 2**20
    assert redis_memory_warning(snap) is None
    snap.redis.used_memory = int(0.93 * 256 * 2**20)
    msg, _ = redis_memory_warning(snap) or ("", "")
    assert "Redis is 93% full" in msg and "polydemo reset" in msg and "will refuse" in msg
    snap.redis.used_memory = 256 * 2**20
    msg, _ = redis_memory_warning(snap) or ("", "")
    assert "Redis is 100% full" in msg and "refuses the cache's writes" in msg
    assert len(msg) <= 100
    assert msg in frame_of(snap).replace("\n", " ") or "Redis is 100% full" in frame_of(snap)
    assert any("100% full" in m for m, _ in staleness(snap))
    snap.redis.maxmemory = 0  # no limit: never full
    assert redis_memory_warning(snap) is None
