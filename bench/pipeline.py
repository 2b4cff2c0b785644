"""Benchmark: commit -> visible latency per projection at a steady rate, and the highest sustained rate.

1. Latency: background sign-ups at RATE/s (default 200) for SECONDS; every 100 ms one more
   sign-up is timed from its Postgres commit until it is visible in Neo4j, in Redis and as an
   event in the time-series store (each polled every ~1 ms). Prints p50/p99 per projection.
2. Throughput: RATEs stepped up for 10 s each; after each step the time for every projector's
   lag to drain to 0. A rate is "sustained" when the inserts kept up and the lag drained within 3 s.

Uses the stack named by POLYDEMO_* when POLYDEMO_HOME is set (it must be up and seeded), else
starts its own (offset 10000). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_env, cleanup, pct  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--steps", default="500,1000,2000,3000,4000")
    args = ap.parse_args()
    home, owned = bench_env()
    from polydemo import load, seed, stack
    from polydemo.config import Settings
    from polydemo.domain.users import hash_password
    from polydemo.pipeline import lag
    from polydemo.runtime.local import LocalRuntime
    from polydemo.stores import cache, graph, postgres, timeseries

    settings = Settings.from_env()
    rt = LocalRuntime(settings)
    if owned:
        stack.bring_up(rt)
        seed.seed(settings)
        seed.wait_converged(settings, 90)
    try:
        # ---------------------------------------------------------------- latency
        stop = threading.Event()
        bg = threading.Thread(target=lambda: load.signup_burst(settings, int(args.rate * args.seconds),
                                                               f"bg{uuid.uuid4().hex[:6]}", batch=10,
                                                               rate=args.rate), daemon=True)
        hashed = hash_password("bench-password")
        r = cache.connect(settings)
        driver = graph.connect(settings)
        gs = driver.session()
        ts = timeseries.connect(settings)
        pg = postgres.connect(settings)
        lat = {"neo4j": [], "redis": [], "analytics": []}
        bg.start()
        t_end = time.monotonic() + args.seconds
        while time.monotonic() < t_end:
            uid = str(uuid.uuid4())
            pg.execute("INSERT INTO users (id, email, name, hashed_password) VALUES (%s, %s, %s, %s)",
                       (uid, f"lat-{uid[:8]}@bench.example", "Latency Probe", hashed))
            t0 = time.perf_counter()  # autocommit: the INSERT returned after COMMIT
            pending = set(lat)
            deadline = t0 + 10
            while pending and time.perf_counter() < deadline:
                if "redis" in pending and r.exists(cache.profile_key(uid)):
                    lat["redis"].append(time.perf_counter() - t0)
                    pending.discard("redis")
                if "neo4j" in pending and gs.run("MATCH (u:User {id: $id}) RETURN 1", id=uid).single():
                    lat["neo4j"].append(time.perf_counter() - t0)
                    pending.discard("neo4j")
                if "analytics" in pending and ts.execute(
                        "SELECT 1 FROM events WHERE user_id = %s AND event_type = 'signed_up'", (uid,)).fetchone():
                    lat["analytics"].append(time.perf_counter() - t0)
                    pending.discard("analytics")
                time.sleep(0.001)
            time.sleep(max(0.0, 0.1 - (time.perf_counter() - t0)))
        bg.join()
        stop.set()
        print(f"commit -> visible at {args.rate:.0f} sign-ups/s ({len(lat['redis'])} probes):")
        for name, vals in lat.items():
            ms = [v * 1000 for v in vals]
            print(f"  {name:<10} p50 {pct(ms, 50):6.1f} ms   p99 {pct(ms, 99):6.1f} ms   max {max(ms):6.1f} ms"
                  f"   (targets p50 <= 25, p99 <= 100)")
        seed.wait_converged(settings, 120)

        # ---------------------------------------------------------------- throughput
        best = 0
        print("sustained rate (10 s per step; drain = time for every projector's lag to reach 0 afterwards):")
        for rate in [int(x) for x in args.steps.split(",")]:
            n = rate * 10
            t0 = time.monotonic()
            load.signup_burst(settings, n, f"tp{rate}{uuid.uuid4().hex[:4]}", batch=max(10, rate // 20), rate=rate)
            took = time.monotonic() - t0
            peak = sum(lag.projector_lag(settings).values())
            t1 = time.monotonic()
            drained = seed.wait_converged(settings, 120)
            drain = time.monotonic() - t1
            achieved = n / took
            ok = drained and drain <= 3.0 and achieved >= rate * 0.9
            print(f"  {rate:>5}/s target: wrote {achieved:7.0f}/s, lag at end {peak:6d} msgs, drained in {drain:5.1f} s"
                  f" -> {'bounded' if ok else 'NOT bounded'}")
            if ok:
                best = rate
            else:
                break
        print(f"highest sustained rate with bounded lag: {best} changes/s (target >= 2000)")
        gs.close()
        driver.close()
    finally:
        if owned:
            stack.bring_down(rt)
        cleanup(home, owned)


if __name__ == "__main__":
    main()
