"""Benchmark: the audience is the load (issue 26). Prints figures; asserts nothing.

PHONES phones (default 500), each through the real gateway's audience listener (on 127.0.0.2: loopback only, never
a real network): joins, follows 5 others, posts twice, all within SECONDS (default 60), while the presenter's web
view is open in Debian's chromium. Then, once every projector's lag is back to 0:

* writes acknowledged, by kind, and refused (by code);
* each acknowledged write counted in every store it must reach (Postgres, Mongo, Neo4j, Redis, the time-series
  events), which must equal the acknowledged count: exactly once, none lost, none doubled;
* mutation latency p50/p99 by kind (seen by the phone);
* CPU of the gateway and of the whole stack (servers, projectors, relay) over the run, RSS of the gateway;
* the projectors' lag: its peak during the run and how long it took to drain after the last write.

Uses the stack named by POLYDEMO_* when POLYDEMO_HOME is set (up and seeded), else starts its own (offset 10000).
The gateway is (re)started in audience mode for the run and stopped after it.

    .venv/bin/python bench/audience.py [--phones 500] [--seconds 60] [--no-browser]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_env, cleanup, pct  # noqa: E402

JOIN = "mutation($c: String!, $n: String!) { join(code: $c, name: $n) { token user { id } } }"
FOLLOW = "mutation($f: String!) { follow(followee: $f) { changed } }"
POST = "mutation($t: String!) { post(title: $t) { id } }"


class Phones:
    def __init__(self, url: str, code: str, n: int, seconds: float, tag: str):
        self.url, self.code, self.n, self.seconds, self.tag = url, code, n, seconds, tag
        self.ids: list[str] = []
        self.ms: dict[str, list[float]] = defaultdict(list)
        self.acked: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.follows: set[tuple[str, str]] = set()
        self.posts: list[str] = []
        self.last_write = 0.0

    async def call(self, client, kind: str, query: str, token: str | None = None, **variables):
        import httpx

        headers = {"authorization": f"Bearer {token}"} if token else {}
        for _attempt in range(5):
            t0 = time.perf_counter()
            try:
                r = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
            except httpx.HTTPError as exc:  # not retried: a write may have landed; counted, shown
                self.refused[f"transport {type(exc).__name__}"] += 1
                return None
            ms = (time.perf_counter() - t0) * 1000
            body = r.json()
            if not body.get("errors"):
                self.ms[kind].append(ms)
                self.acked[kind] += 1
                self.last_write = time.time()
                return body["data"]
            err = body["errors"][0].get("extensions", {})
            self.refused[err.get("code", "?")] += 1
            if err.get("code") != "RATE_LIMITED":
                return None
            await asyncio.sleep(err.get("retryAfterMs", 500) / 1000)  # as the phone page does
        return None

    async def phone(self, client, i: int, t0: float) -> None:
        # Joins spread over the first half, each phone's other writes over the rest of its time.
        await asyncio.sleep(max(0.0, t0 + i * (self.seconds / 2) / self.n - time.monotonic()))
        data = await self.call(client, "join", JOIN, c=self.code, n=f"Phone {self.tag} {i}")
        if data is None:
            return
        token, me = data["join"]["token"], data["join"]["user"]["id"]
        self.ids.append(me)
        end = t0 + self.seconds
        plan = ["follow"] * 5 + ["post"] * 2
        random.shuffle(plan)
        followed: set[str] = set()
        for k, what in enumerate(plan):
            left = end - time.monotonic()
            await asyncio.sleep(max(0.0, random.uniform(0, left / (len(plan) - k + 1))))
            if what == "post":
                posted = await self.call(client, "post", POST, token, t=f"{self.tag} post {i}.{k}")
                if posted:
                    self.posts.append(posted["post"]["id"])
                continue
            pool = [x for x in self.ids if x != me and x not in followed] or []
            if not pool:
                continue
            who = random.choice(pool)
            followed.add(who)
            done = await self.call(client, "follow", FOLLOW, token, f=who)
            if done and done["follow"]["changed"]:
                self.follows.add((me, who))

    async def run(self, first: int = 0, count: int | None = None, t0: float | None = None) -> None:
        """Phones ``first`` .. ``first + count - 1`` of the room (this process's share), from ``t0`` (monotonic)."""
        import httpx

        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=self.url, timeout=60, limits=limits) as client:
            start = time.monotonic() if t0 is None else t0
            last = self.n if count is None else first + count
            await asyncio.gather(*(self.phone(client, i, start) for i in range(first, last)))


def run_share(url: str, code: str, n: int, seconds: float, tag: str, first: int, count: int, t0: float) -> dict:
    """One process's share of the room (``--processes``): its phones, and what they saw."""
    phones = Phones(url, code, n, seconds, tag)
    asyncio.run(phones.run(first, count, t0))
    return {
        "ids": phones.ids,
        "ms": dict(phones.ms),
        "acked": dict(phones.acked),
        "refused": dict(phones.refused),
        "follows": sorted(phones.follows),
        "posts": phones.posts,
        "last_write": phones.last_write,
    }


def play(phones: Phones, processes: int) -> list:
    """The room in ``processes`` processes (1: this one); their results merged into ``phones``. Returns the
    processes' psutil handles' CPU seconds (for the CPU figure)."""
    if processes <= 1:
        asyncio.run(phones.run())
        return []
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    t0 = time.monotonic() + 2  # the workers start, then all begin together
    share = -(-phones.n // processes)
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [
            pool.submit(
                run_share, phones.url, phones.code, phones.n, phones.seconds, phones.tag, k * share,
                min(share, phones.n - k * share), t0,
            )
            for k in range(processes)
            if k * share < phones.n
        ]
        import psutil

        time.sleep(1)
        workers = psutil.Process().children()
        cpu = [0.0]

        results = []
        for f in futures:
            while not f.done():
                cpu[0] = max(cpu[0], sum(cpu_seconds([w]) for w in workers))
                time.sleep(0.5)
            results.append(f.result())
    for r in results:
        phones.ids += r["ids"]
        for k, v in r["ms"].items():
            phones.ms[k] += v
        phones.acked.update(r["acked"])
        phones.refused.update(r["refused"])
        phones.follows.update(tuple(x) for x in r["follows"])
        phones.posts += r["posts"]
        phones.last_write = max(phones.last_write, r["last_write"])
    return cpu


def stack_processes(settings) -> list:
    import psutil

    from polydemo import procs

    out = []
    for pid_file in sorted(settings.run_dir.glob("*.pid")):
        proc = procs.alive(pid_file)
        if proc is not None:
            out.append(proc)
            try:
                out += proc.children(recursive=True)
            except psutil.Error:
                pass
    return out


def cpu_seconds(processes) -> float:
    import psutil

    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def counts(settings, ids: list[str], posts: list[str]) -> dict[str, int]:
    from polydemo.stores import Stores, cache

    with Stores(settings) as st:
        pg = st.users.conn
        out = {
            "postgres users": pg.execute("SELECT count(*) FROM users WHERE id = ANY(%s::uuid[])", (ids,)).fetchone()[0],
            "postgres follows": pg.execute(
                "SELECT count(*) FROM follows WHERE follower_id = ANY(%s::uuid[])", (ids,)
            ).fetchone()[0],
            "mongo posts": st.posts.count_ids(posts),
        }
        q = st.graph.driver.execute_query
        out["neo4j users"] = q("MATCH (u:User) WHERE u.id IN $ids RETURN count(u) AS n", ids=ids).records[0]["n"]
        out["neo4j follows"] = q(
            "MATCH (a:User)-[r:FOLLOWS]->(:User) WHERE a.id IN $ids RETURN count(r) AS n", ids=ids
        ).records[0]["n"]
        pipe = st.cache.client.pipeline(transaction=False)
        for i in ids:
            pipe.exists(cache.profile_key(i))
        out["redis profiles"] = sum(int(x) for x in pipe.execute())
        rows = st.events.conn.execute(
            "SELECT event_type, count(*) FROM events WHERE user_id = ANY(%s) GROUP BY 1", (ids,)
        ).fetchall()
        by_type = dict(rows)
        out["events signed_up"] = by_type.get("signed_up", 0)
        out["events followed"] = by_type.get("followed", 0)
        out["events posted"] = by_type.get("posted", 0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--phones", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--processes", type=int, default=1, help="play the phones from this many processes")
    args = ap.parse_args()
    home, owned = bench_env()
    from polydemo import seed, stack
    from polydemo.config import Settings
    from polydemo.pipeline import lag
    from polydemo.runtime.local import LocalRuntime
    from polydemo.stores import Stores
    from polydemo.web import service

    settings = Settings.from_env()
    rt = LocalRuntime(settings)
    if owned:
        stack.bring_up(rt)
        seed.seed(settings)
        seed.wait_converged(settings, 90)
    service.stop(settings)
    options = service.audience_options(settings, "127.0.0.2", max_users=args.phones + 100)
    service.start(settings, audience=options)
    info = service.audience_status(settings) or {}
    gateway = service.status(settings).pid
    driver = None
    try:
        if not args.no_browser and Path("/usr/bin/chromedriver").exists():
            from web import browser

            driver = browser()
            driver.get(service.url(settings))
        tag = uuid.uuid4().hex[:6]
        phones = Phones(f"http://127.0.0.2:{options.port}", info["code"], args.phones, args.seconds, tag)
        import psutil

        gw = psutil.Process(gateway)
        procs_ = stack_processes(settings)
        browser_procs = []
        if driver is not None:
            chromedriver = psutil.Process(driver.service.process.pid)
            browser_procs = [chromedriver, *chromedriver.children(recursive=True)]
        cpu0, gw0, wall0 = cpu_seconds(procs_), cpu_seconds([gw]), time.monotonic()
        br0 = cpu_seconds(browser_procs)
        me = psutil.Process()
        me0 = cpu_seconds([me])
        peak = {"lag": 0}
        stop = threading.Event()

        def watch_lag() -> None:
            with Stores(settings) as st:
                while not stop.is_set():
                    try:
                        peak["lag"] = max(peak["lag"], sum(lag.projector_lag(settings, st.kafka).values()))
                    except Exception:  # noqa: BLE001 (a bench: a failed read is one sample less)
                        pass
                    stop.wait(0.5)

        watcher = threading.Thread(target=watch_lag, daemon=True)
        watcher.start()
        with open("/proc/loadavg") as f:
            print(f"{args.phones} phones for {args.seconds:.0f} s on {phones.url}; /proc/loadavg {f.read().strip()}")
        workers_cpu = play(phones, args.processes)
        wall = time.monotonic() - wall0
        cpu1, gw1, br1 = cpu_seconds(procs_), cpu_seconds([gw]), cpu_seconds(browser_procs)
        me1 = cpu_seconds([me])
        rss = gw.memory_info().rss
        stop.set()
        watcher.join(5)
        t_last = phones.last_write
        converged = seed.wait_converged(settings, 300)
        drain = time.time() - t_last
        print(
            f"\n=== writes acknowledged in {wall:.1f} s: {dict(phones.acked)}; refused: {dict(phones.refused) or 'none'}"
        )
        print("\n=== mutation latency seen by the phones")
        for kind, ms in phones.ms.items():
            print(f"  {kind:<8} n={len(ms):5d}  p50 {pct(ms, 50):8.1f} ms  p99 {pct(ms, 99):8.1f} ms")
        print(f"\n=== CPU over the run ({wall:.0f} s)")
        print(f"  gateway: {(gw1 - gw0) / wall * 100:.0f} % of one core, RSS {rss / 2**20:.0f} MiB")
        print(f"  the stack ({len(procs_)} processes): {(cpu1 - cpu0) / wall * 100:.0f} % of one core")
        gen = (me1 - me0) + (workers_cpu[0] if workers_cpu else 0.0)
        print(f"  the {args.phones} phones ({max(1, args.processes)} process(es)): {gen / wall * 100:.0f} % of one core")
        if browser_procs:
            print(f"  the big screen (chromium, {len(browser_procs)} processes): {(br1 - br0) / wall * 100:.0f} % of one core")
        print(
            f"\n=== lag: peak {peak['lag']} messages; drained {drain:.1f} s after the last write "
            f"({'converged' if converged else 'NOT converged within 300 s'})"
        )
        seen = counts(settings, phones.ids, phones.posts)
        want = {
            "postgres users": len(phones.ids),
            "postgres follows": len(phones.follows),
            "mongo posts": len(phones.posts),
            "neo4j users": len(phones.ids),
            "neo4j follows": len(phones.follows),
            "redis profiles": len(phones.ids),
            "events signed_up": len(phones.ids),
            "events followed": len(phones.follows),
            "events posted": len(phones.posts),
        }
        print("\n=== every acknowledged write in every store, exactly once")
        for k, v in want.items():
            print(f"  {k:<18} acknowledged {v:6d}  in the store {seen[k]:6d}  {'ok' if seen[k] == v else 'MISMATCH'}")
        if driver is not None:
            handled = driver.execute_script("return Object.keys((window.polydemo || {}).handled || {}).length")
            print(f"\nthe big screen (chromium) took in {handled} flows during the run")
    finally:
        if driver is not None:
            driver.quit()
        service.stop(settings)
        if owned:
            stack.bring_down(rt)
            cleanup(home, owned)


if __name__ == "__main__":
    main()
