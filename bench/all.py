"""Every figure of issue 13 in one run, on a stack of its own (default offset 10000, a temp home).

    .venv/bin/python bench/all.py            # ~8-11 minutes on 2 cores
    make bench-all

1. Cold `up` to all healthy, and where the time goes per service (wait for a dependency, start -> healthy).
2. Idle CPU of the whole stack (servers with their child processes, projectors, relay), per process.
3. Seed; dashboard frame cost at seed size (collect + render, CPU at 4 Hz).
4. Commit -> visible latency per projection at 200 sign-ups/s with the per-hop split (Postgres commit ->
   Kafka append -> projector consume -> store write done -> probe sees it), and at 2,000/s.
5. The same 200/s measurement with the Debezium tutorial's defaults (connector poll.interval.ms 500,
   producer linger.ms 5 [Kafka 4's default], max.batch.size 2048, consumer fetch.wait.max.ms 500), the ratio,
   then our settings restored.
6. Throughput: sign-ups stepped up (default 2,000, 5,000, 10,000/s for 10 s each) through CDC into all three
   projections; lag at the end of each step, drain time and the CPU per process during the step (the
   bottleneck is the busiest process).
7. Dashboard at scale: at least 100,000 users (the throughput steps, then more sign-ups through the pipeline
   if needed), 1,000,000 events (bulk INSERT ... SELECT generate_series straight into the time-series
   store, spread over the last 7 days) and 50,000 posts (insert_many into Mongo; the relay carries them on,
   so their events are real). Frame cost again.

Prints /proc/loadavg at the start, between sections and at the end: the machine is shared. Asserts nothing.
``--offset N`` picks the ports (POLYDEMO_PORT_OFFSET), ``--quick`` shortens every section.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil
from common import offscreen, pct, time_frames

T_START = time.monotonic()


def loadavg(tag: str) -> None:
    with open("/proc/loadavg") as f:
        print(f"[{time.monotonic() - T_START:6.0f} s] /proc/loadavg {f.read().strip()}   ({tag})", flush=True)


def section(title: str) -> None:
    print(f"\n=== {title}", flush=True)


# ---------------------------------------------------------------- CPU per process


def stack_processes(settings) -> dict[str, list[psutil.Process]]:
    """Every process of the stack by service: each server's pid with its children, each worker."""
    from polydemo import procs
    from polydemo.config import SERVICES
    from polydemo.pipeline import workers

    out: dict[str, list[psutil.Process]] = {}
    for name in SERVICES:
        rec = procs.alive(settings.pid_file(name))
        if rec:
            out[name] = [rec] if isinstance(rec, psutil.Process) else [psutil.Process(rec.pid)]
    for name in workers.WORKERS:
        rec = procs.alive(workers.pid_file(settings, name))
        if rec:
            out[f"projector-{name}" if name != "relay" else "relay"] = [
                rec if isinstance(rec, psutil.Process) else psutil.Process(rec.pid)
            ]
    for name, ps in out.items():
        try:
            out[name] = ps + ps[0].children(recursive=True)
        except psutil.Error:
            pass
    return out


def cpu_times(groups: dict[str, list[psutil.Process]]) -> dict[str, float]:
    res: dict[str, float] = {}
    for name, ps in groups.items():
        total = 0.0
        for p in ps:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        res[name] = total
    return res


class CpuWindow:
    """CPU seconds per service between start() and stop(), as % of one core."""

    def __init__(self, settings):
        self.settings = settings

    def start(self) -> None:
        self.groups = stack_processes(self.settings)
        self.c0, self.w0 = cpu_times(self.groups), time.monotonic()

    def stop(self) -> dict[str, float]:
        # children that appeared meanwhile (Postgres backends) are counted from 0: a slight over-count
        groups = stack_processes(self.settings)
        c1, wall = cpu_times(groups), time.monotonic() - self.w0
        return {n: 100 * (c1[n] - self.c0.get(n, 0.0)) / wall for n in c1}


def print_cpu(shares: dict[str, float], indent: str = "  ") -> float:
    total = sum(shares.values())
    parts = ", ".join(f"{n} {v:.1f}" for n, v in sorted(shares.items(), key=lambda kv: -kv[1]))
    print(f"{indent}total {total:.1f} % of one core: {parts}")
    return total


# ---------------------------------------------------------------- 1. cold up


def cold_up(rt, settings) -> None:
    from polydemo import stack

    section("1. cold `up` (new run directory: initdb x2, Kafka format, empty Neo4j and Mongo)")
    marks: dict[str, dict[str, float]] = {}
    t0 = time.monotonic()

    def progress(name: str, state: str, detail: str) -> None:
        m = marks.setdefault(name, {})
        key = "pid" if state == "starting" and detail.startswith("pid") else state
        m.setdefault(key, time.monotonic() - t0)

    up = stack.bring_up(rt, progress=progress)
    total = time.monotonic() - t0
    print(f"  servers all healthy: {up.servers.seconds:5.1f} s   (target <= 12 s; was 17.4 s)")
    print(f"  + schemas, topics, connector RUNNING, projectors running: {total:5.1f} s")
    print("  per service (s from the start of `up`): waiting for a dependency | process started | healthy")
    for name, m in sorted(marks.items(), key=lambda kv: kv[1].get("healthy", 99)):
        waited = m.get("starting", m.get("pid", 0)) - m.get("waiting", m.get("starting", 0)) if "waiting" in m else 0
        print(
            f"    {name:<12} waited {waited:5.1f}   started {m.get('pid', m.get('starting', 0)):5.1f}"
            f"   healthy {m.get('healthy', float('nan')):5.1f}   (start -> healthy "
            f"{m.get('healthy', float('nan')) - m.get('pid', m.get('starting', 0)):5.1f})"
        )


# ---------------------------------------------------------------- 2. idle


def idle(settings, seconds: float) -> float:
    section(f"2. idle stack: CPU over {seconds:.0f} s with nothing happening (after 5 s settling)")
    time.sleep(5)
    w = CpuWindow(settings)
    w.start()
    time.sleep(seconds)
    total = print_cpu(w.stop())
    print(f"  target <= 10 % of one core (was ~24 %): {'OK' if total <= 10 else 'OVER'}")
    return total


# ---------------------------------------------------------------- 3/7. dashboard


def dashboard(settings, label: str, frames: int, live_s: float) -> None:
    import resource

    from polydemo.dashboard.live import live_loop
    from polydemo.dashboard.snapshot import Collector

    def cpu() -> float:
        u = resource.getrusage(resource.RUSAGE_SELF)
        return u.ru_utime + u.ru_stime

    collector = Collector(settings, "local")
    prev, col, ren, tot = time_frames(collector, collector.collect(), frames)
    pg = prev.postgres
    counts = (
        f"users {pg.users if pg else '?'}, follows {pg.follows if pg else '?'}, "
        f"events {prev.timeseries.events if prev.timeseries else '?'}, posts {prev.mongo.posts if prev.mongo else '?'}, "
        f"profiles {prev.redis.profiles if prev.redis else '?'}"
    )
    est = getattr(pg, "estimated", None)
    print(f"  {label}: {counts}{' (estimates marked on screen: ' + str(est) + ')' if est else ''}")
    print(
        f"  {frames} frames: collect p50 {pct(col, 50):.1f} p99 {pct(col, 99):.1f} ms | render p50 {pct(ren, 50):.1f}"
        f" ms | collect+render p50 {pct(tot, 50):.1f} p99 {pct(tot, 99):.1f} ms  (target p50 <= 50)"
    )
    print(
        "  per store (last frame, ms): " + ", ".join(f"{s.name} {s.ms:.0f}" for s in prev.services if s.ms is not None)
    )
    import subprocess

    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([str(Path(sys.executable).with_name("polydemo")), "snapshot", "--json"], capture_output=True)
        runs.append((time.perf_counter() - t0) * 1000)
    print(f"  `polydemo snapshot --json` from a new process: {', '.join(f'{x:.0f}' for x in runs)} ms")
    # A collector's first seconds include reading the CDC topics' history for the schema versions (200,000
    # sign-ups: ~1-3 s of CPU, once): measured apart from the steady state the target is about.
    c0, w0 = cpu(), time.monotonic()
    live_loop(collector, offscreen(), 4.0, seconds=10)
    first = 100 * (cpu() - c0) / (time.monotonic() - w0)
    c0, w0 = cpu(), time.monotonic()
    live_loop(collector, offscreen(), 4.0, seconds=live_s)
    share = 100 * (cpu() - c0) / (time.monotonic() - w0)
    print(
        f"  live loop at 4 Hz: first 10 s (schema history read) {first:.1f} %, then {live_s:.0f} s: {share:.1f} % "
        "of one core  (target <= 15 %)"
    )
    collector.close()


# ---------------------------------------------------------------- 4/5. latency


def read_rings(settings) -> dict[str, dict[str, dict]]:
    from polydemo.pipeline.loop import status_file

    out = {}
    for name in ("graph", "cache", "analytics"):
        try:
            recent = json.loads(status_file(settings, name).read_text()).get("recent") or []
        except (OSError, ValueError):
            recent = []
        out[name] = {str((r.get("key") or {}).get("id")): r for r in recent if r.get("entity") == "user"}
    return out


STORE_OF = {"neo4j": "graph", "redis": "cache", "analytics": "analytics"}


def latency(settings, rate: float, seconds: float, label: str, hops: bool = True) -> dict[str, list[float]]:
    from polydemo import load, seed
    from polydemo.domain.users import hash_password
    from polydemo.stores import cache, graph, postgres, timeseries

    bg = threading.Thread(
        target=lambda: load.signup_burst(
            settings, int(rate * seconds), f"bg{uuid.uuid4().hex[:6]}", batch=max(10, int(rate) // 20), rate=rate
        ),
        daemon=True,
    )
    hashed = hash_password("bench-password")
    r = cache.connect(settings)
    driver = graph.connect(settings)
    gs = driver.session()
    ts = timeseries.connect(settings)
    pg = postgres.connect(settings)
    lat: dict[str, list[float]] = {"redis": [], "analytics": [], "neo4j": []}
    seen: dict[str, dict[str, float]] = {}  # uid -> {commit wall, store -> visible wall}
    hop: dict[str, dict[str, list[float]]] = {n: {"kafka": [], "consume": [], "apply": [], "visible": []} for n in lat}
    bg.start()
    t_end = time.monotonic() + seconds
    last_ring = time.monotonic()

    def harvest() -> None:
        rings = read_rings(settings)
        for uid in list(seen):
            info = seen[uid]
            for store, proj in STORE_OF.items():
                rec = rings[proj].get(uid)
                if rec is None or f"{store}_done" in info or store not in info:
                    continue
                commit = info["commit"] * 1000
                if rec.get("kafka_ts_ms"):
                    hop[store]["kafka"].append(rec["kafka_ts_ms"] - commit)
                    hop[store]["consume"].append(rec["consumed_at_ms"] - rec["kafka_ts_ms"])
                hop[store]["apply"].append(rec["applied_at_ms"] - rec["consumed_at_ms"])
                hop[store]["visible"].append(info[store] * 1000 - rec["applied_at_ms"])
                info[f"{store}_done"] = 1
            if time.time() - info["commit"] > 3:
                del seen[uid]

    checks = {
        "redis": lambda uid: r.exists(cache.profile_key(uid)),
        "neo4j": lambda uid: gs.run("MATCH (u:User {id: $id}) RETURN 1", id=uid).single(),
        "analytics": lambda uid: ts.execute(
            "SELECT 1 FROM events WHERE user_id = %s AND event_type = 'signed_up'", (uid,)
        ).fetchone(),
    }

    def poll_one(store: str, uid: str, t0: float, info: dict) -> None:
        check = checks[store]
        while time.perf_counter() < t0 + 10:
            if check(uid):
                lat[store].append(time.perf_counter() - t0)
                info[store] = time.time()
                return
            time.sleep(0.0005)

    while time.monotonic() < t_end:
        uid = str(uuid.uuid4())
        pg.execute(
            "INSERT INTO users (id, email, name, hashed_password) VALUES (%s, %s, %s, %s)",
            (uid, f"lat-{uid[:8]}@bench.example", "Latency Probe", hashed),
        )
        t0 = time.perf_counter()  # autocommit: the INSERT returned after COMMIT
        info = seen.setdefault(uid, {"commit": time.time()})
        # One poller per store, concurrently, so that a slow query on one store does not delay the others' figure.
        threads = [threading.Thread(target=poll_one, args=(store, uid, t0, info)) for store in lat]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if hops and time.monotonic() - last_ring > 0.6:  # the rings are written every 0.5 s
            harvest()
            last_ring = time.monotonic()
        time.sleep(max(0.0, 0.1 - (time.perf_counter() - t0)))
    bg.join()
    if hops:
        time.sleep(0.6)
        harvest()
    print(f"  {label}: commit -> visible at {rate:.0f} sign-ups/s ({len(lat['redis'])} probes)")
    for name, vals in lat.items():
        ms = [v * 1000 for v in vals]
        line = f"    {name:<10} p50 {pct(ms, 50):6.1f} ms   p99 {pct(ms, 99):6.1f} ms   max {max(ms):6.1f} ms"
        if hops and hop[name]["apply"]:
            h = hop[name]
            line += (
                f"   | hops p50: commit->kafka {pct(h['kafka'], 50):5.1f}, kafka->consumed {pct(h['consume'], 50):5.1f},"
                f" consumed->written {pct(h['apply'], 50):5.1f}, written->seen {pct(h['visible'], 50):5.1f}"
                f" ({len(h['apply'])} traced)"
            )
        print(line)
    gs.close()
    driver.close()
    r.close()
    ts.close()
    pg.close()
    seed.wait_converged(settings, 120)
    return {k: [v * 1000 for v in vals] for k, vals in lat.items()}


PROFILES = {
    "ours": "stack/connect/polydemo-users.json as shipped: poll.interval.ms 10, linger.ms 0; fetch wait 500",
    "defaults": "the Debezium tutorial's: poll.interval.ms 500, max.batch.size 2048, linger.ms 5 (Kafka 4), fetch wait 500",
    "idle": "poll.interval.ms 100 (an idle-friendly choice), linger.ms 0; fetch wait 500",
    "fast": "poll.interval.ms 1 (what a p50 <= 10 ms asks of Debezium), linger.ms 0; fetch wait 500",
}


def with_profile(settings, profile: str) -> None:
    """Re-register the connector with a profile's settings and restart the projectors with its fetch wait."""
    from polydemo.pipeline import connector, workers
    from polydemo.stores.connect import Connect

    cfg = connector.config(settings)
    if profile == "defaults":
        for k in ("poll.interval.ms", "max.batch.size", "max.queue.size"):
            cfg.pop(k, None)
        cfg["producer.override.linger.ms"] = "5"  # Kafka 4's producer default, named so the worker's is not used
        os.environ["POLYDEMO_FETCH_WAIT_MS"] = "500"  # librdkafka's default (the Java client's is 500 too)
    elif profile == "idle":
        cfg["poll.interval.ms"] = "100"
    elif profile == "fast":
        cfg["poll.interval.ms"] = "1"
    with Connect(settings, timeout=15) as gw:
        gw.put_config(cfg)
    connector.wait_running(settings, 60)
    for n in ("graph", "cache", "analytics"):
        workers.stop(settings, n)
        workers.start(settings, n)
    workers.wait_running(settings, timeout=30)
    os.environ.pop("POLYDEMO_FETCH_WAIT_MS", None)
    time.sleep(3)  # the task restarted and the consumers joined


def compare_profiles(settings, seconds: float, idle_s: float) -> None:
    section("5. the same at 200/s under four settings, with the idle CPU of each (same run, same data)")
    results: dict[str, tuple[float, dict[str, list[float]]]] = {}
    try:
        for profile in ("ours", "defaults", "idle", "fast"):
            print(f"  -- {profile}: {PROFILES[profile]}")
            with_profile(settings, profile)
            time.sleep(5)
            w = CpuWindow(settings)
            w.start()
            time.sleep(idle_s)
            total = print_cpu(w.stop(), indent="    idle: ")
            results[profile] = (total, latency(settings, 200, seconds, profile, hops=True))
    finally:
        with_profile(settings, "ours")
    ours = results["ours"][1]
    print("  summary (p50 / p99 ms per projection; idle % of one core for the whole stack):")
    for profile, (idle_pct, lat) in results.items():
        cells = ", ".join(f"{n} {pct(v, 50):.1f}/{pct(v, 99):.1f}" for n, v in lat.items())
        ratio = ", ".join(f"{n} x{pct(v, 50) / pct(ours[n], 50):.1f}" for n, v in lat.items())
        print(f"    {profile:<9} idle {idle_pct:5.1f} %   {cells}   (p50 vs ours: {ratio})")
    print("    anchor (Sequin's Debezium benchmark): 258 ms average, 499 ms p99")


# ---------------------------------------------------------------- 6. throughput


def throughput(settings, steps: list[int], step_s: float) -> None:
    from polydemo import load, seed
    from polydemo.pipeline import lag

    section(f"6. throughput: sign-ups through CDC into all three projections, {step_s:.0f} s per step")
    best = 0
    for rate in steps:
        n = int(rate * step_s)
        w = CpuWindow(settings)
        w.start()
        t0 = time.monotonic()
        load.signup_burst(settings, n, f"tp{rate}{uuid.uuid4().hex[:4]}", batch=max(100, rate // 20), rate=rate)
        took = time.monotonic() - t0
        peak = lag.projector_lag(settings)
        t1 = time.monotonic()
        drained = seed.wait_converged(settings, 180)
        drain = time.monotonic() - t1
        shares = w.stop()
        achieved = n / took
        ok = drained and drain <= 3.0 and achieved >= rate * 0.9
        through = n / (took + drain)
        print(
            f"  {rate:>6}/s asked: wrote {achieved:7.0f}/s, lag at end {sum(peak.values()):7d} "
            f"({', '.join(f'{k} {v}' for k, v in peak.items())}), drained in {drain:5.1f} s, "
            f"end to end {through:6.0f}/s -> {'bounded' if ok else 'NOT bounded'}"
        )
        print_cpu(shares, indent="    CPU during the step: ")
        if ok:
            best = rate
    print(f"  highest step with bounded lag (drained <= 3 s): {best} changes/s (target >= 10,000)")


# ---------------------------------------------------------------- 7. scale


def build_scale(settings, users: int, events: int, posts: int) -> None:
    from polydemo import load, seed
    from polydemo.stores import mongo, postgres, timeseries
    from polydemo.stores.timeseries import _ROLLUP, EPOCH

    pg = postgres.connect(settings)
    have = pg.execute("SELECT count(*) FROM users").fetchone()[0]
    t0 = time.monotonic()
    if have < users:
        load.signup_burst(settings, users - have, f"scale{uuid.uuid4().hex[:4]}", batch=1000)
    ts = timeseries.connect(settings)
    n_ev = ts.execute("SELECT count(*) FROM events").fetchone()[0]
    t1 = time.monotonic()
    if n_ev < events:
        ids = [r[0] for r in pg.execute("SELECT id FROM users LIMIT 5000").fetchall()]
        # Straight into the events table and, in the same statement, its per-minute counts (as the analytics
        # projector's inserts do: polydemo/stores/timeseries.py _ROLLUP).
        ts.execute(
            "WITH ins AS (INSERT INTO events (time, user_id, event_type, properties, event_id) "
            "SELECT now() - random() * interval '7 days', (%s::uuid[])[1 + (g %% %s)], "
            "(ARRAY['profile_updated','followed','unfollowed','liked','posted'])[1 + (g %% 5)], '{}'::jsonb, "
            "'bench:' || %s || ':' || g FROM generate_series(1, %s) g RETURNING time, event_type) "
            + _ROLLUP.format(sign="+", rows="ins"),
            (ids, len(ids), uuid.uuid4().hex[:6], events - n_ev, EPOCH),
        )
        ts.execute("ANALYZE events")
    t2 = time.monotonic()
    client = mongo.connect(settings)
    coll = client[settings.mongo_db]["posts"]
    n_posts = coll.estimated_document_count()
    authors = [str(r[0]) for r in pg.execute("SELECT id FROM users LIMIT 2000").fetchall()]
    from datetime import UTC, datetime

    left = posts - n_posts
    while left > 0:
        k = min(1000, left)
        coll.insert_many(
            [
                {
                    "_id": str(uuid.uuid4()),
                    "author_id": random.choice(authors),
                    "title": f"Bench post {i}",
                    "body": "A post of the scale data set.",
                    "tags": ["bench"],
                    "meta": {"likes": 0},
                    "created_at": datetime.now(UTC),
                }
                for i in range(k)
            ]
        )
        left -= k
    t3 = time.monotonic()
    seed.wait_converged(settings, 300)
    t4 = time.monotonic()
    pg.execute("ANALYZE users")
    pg.execute("ANALYZE follows")
    print(
        f"  built: users via the pipeline {t1 - t0:.0f} s, events by INSERT..SELECT {t2 - t1:.0f} s, "
        f"posts by insert_many {t3 - t2:.0f} s, pipeline drained {t4 - t3:.0f} s"
    )
    client.close()
    pg.close()
    ts.close()


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--offset", default=os.environ.get("POLYDEMO_PORT_OFFSET", "10000"))
    ap.add_argument("--quick", action="store_true", help="shorter sections (a smoke run)")
    ap.add_argument("--steps", default="2000,5000,10000")
    ap.add_argument("--skip-defaults", action="store_true")
    args = ap.parse_args()
    import shutil
    import tempfile

    home = tempfile.mkdtemp(prefix="polydemo-bench-")
    os.chmod(home, 0o755)
    os.environ.update(POLYDEMO_HOME=home, POLYDEMO_PORT_OFFSET=str(args.offset), POLYDEMO_RUNTIME="local")
    os.environ.pop("POLYDEMO_FETCH_WAIT_MS", None)
    from polydemo import seed, stack
    from polydemo.config import Settings
    from polydemo.runtime.local import LocalRuntime

    settings = Settings.from_env()
    rt = LocalRuntime(settings)
    q = args.quick
    print(f"bench/all.py: {os.cpu_count()} CPUs, home {home}, port offset {args.offset}")
    loadavg("start")
    try:
        cold_up(rt, settings)
        loadavg("after up")
        idle(settings, 10 if q else 20)
        loadavg("after idle")

        section("3. seed, then the dashboard at seed size")
        t0 = time.monotonic()
        seed.seed(settings)
        seed.wait_converged(settings, 120)
        print(f"  seed + converged: {time.monotonic() - t0:.1f} s")
        dashboard(settings, "seed size", 15 if q else 40, 5 if q else 10)
        loadavg("after dashboard at seed size")

        section("4. commit -> visible (our settings)")
        ours = latency(settings, 200, 8 if q else 15, "ours")
        latency(settings, 2000, 5 if q else 10, "ours", hops=False)
        print("    targets: p50 <= 10 ms and p99 <= 40 ms on every projection at 200/s; p99 <= 100 ms at 2,000/s")
        loadavg("after latency")

        if not args.skip_defaults:
            compare_profiles(settings, 8 if q else 15, 5 if q else 10)
            loadavg("after the three settings")

        steps = [int(x) for x in args.steps.split(",")]
        throughput(settings, steps, 5 if q else 10)
        loadavg("after throughput")

        section("7. dashboard at scale (>= 100,000 users, 1,000,000 events, 50,000 posts)")
        if q:
            build_scale(settings, 20_000, 100_000, 5_000)
        else:
            build_scale(settings, 100_000, 1_000_000, 50_000)
        dashboard(settings, "at scale", 15 if q else 40, 5 if q else 10)
        loadavg("after dashboard at scale")
        idle(settings, 10 if q else 20)
    finally:
        stack.bring_down(rt)
        shutil.rmtree(home, ignore_errors=True)
        loadavg("end")
        print(f"whole run: {time.monotonic() - T_START:.0f} s")


if __name__ == "__main__":
    main()
