"""Benchmark: the web gateway and the live view (issue 25). Prints figures; asserts nothing.

1. GraphQL latency, p50/p99 over N calls each (one client, sequential, over HTTP to 127.0.0.1): the mutations
   signUp (argon2id hashing included: that is what a sign-up costs), follow, post (relay), and the reads
   user(STRONG), user(EVENTUAL), user(READ_YOUR_WRITES) right after the caller's own write, users(limit: 10).
2. The gateway's CPU (its process, psutil, over a 20 s window) with no page open, with 1 tab and with 10 tabs of
   Debian's chromium (headless, Selenium) on the live view, the stack idle.
3. Commit -> drawn on the page at RATE sign-ups/s (default 200) for SECONDS: the source commit time of each change
   (the flow's ``origin_ms``, from Debezium's source.ts_ms, as pushed on /api/live, which this script also
   listens to) against the time the page drew the change's last hop (``window.polydemo.drawn[id]``, Date.now()
   in the page). Same machine, same clock. Prints p50/p99 and how many of the changes were drawn.

Uses the stack named by POLYDEMO_* when POLYDEMO_HOME is set (it must be up and seeded), else starts its own
(offset 10000), and its own gateway unless one runs for that home.

    .venv/bin/python bench/web.py [--calls 200] [--rate 200] [--seconds 15] [--no-browser]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_env, cleanup, pct  # noqa: E402

PASSWORD = "bench web password"


def figures(name: str, ms: list[float]) -> None:
    print(f"  {name:<34} n={len(ms):4d}  p50 {pct(ms, 50):8.2f} ms  p99 {pct(ms, 99):8.2f} ms", flush=True)


def gql(client, query: str, token: str | None = None, **variables) -> dict:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    r = client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    body = r.json()
    if body.get("errors"):
        raise RuntimeError(body["errors"][0]["message"])
    return body["data"]


SIGN_UP = (
    "mutation($e: String!, $n: String!, $p: String!) { signUp(email: $e, name: $n, password: $p) { token user { id } } }"
)
READ = "query($id: String!, $c: Consistency!) { user(id: $id, consistency: $c) { store found verdict waitedMs } }"


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def latency(url: str, calls: int) -> None:
    import httpx

    print(f"\n=== GraphQL latency ({calls} calls each, sequential, one client)", flush=True)
    with httpx.Client(base_url=url, timeout=30) as c:
        tag = uuid.uuid4().hex[:6]
        tokens: list[tuple[str, str]] = []
        ms = []
        for i in range(calls):
            email = f"bw-{tag}-{i}@bench.example"
            t0 = time.perf_counter()
            data = gql(c, SIGN_UP, e=email, n=f"Bench {i}", p=PASSWORD)["signUp"]
            ms.append((time.perf_counter() - t0) * 1000)
            tokens.append((data["token"], email))
        figures("mutation signUp (argon2id)", ms)
        token, me = tokens[0]
        others = [e for _t, e in tokens[1:]]
        figures(
            "mutation follow",
            [timed(lambda e=e: gql(c, 'mutation($f: String!) { follow(followee: $f) { changed } }', token, f=e)) for e in others],
        )
        figures(
            "mutation post (relay)",
            [
                timed(lambda i=i: gql(c, 'mutation($t: String!) { post(title: $t) { id } }', token, t=f"bench {i}"))
                for i in range(calls)
            ],
        )
        for consistency in ("STRONG", "EVENTUAL"):
            figures(
                f"query user({consistency})",
                [timed(lambda: gql(c, READ, token, id=me, c=consistency)) for _ in range(calls)],
            )
        ryw = []
        waited = []
        for e in others[: max(10, calls // 4)]:
            gql(c, 'mutation($f: String!) { unfollow(followee: $f) { changed } }', token, f=e)
            t0 = time.perf_counter()
            reads = gql(c, READ, token, id=e, c="READ_YOUR_WRITES")["user"]  # e's follower count just changed
            ryw.append((time.perf_counter() - t0) * 1000)
            waited += [r["waitedMs"] for r in reads if r["waitedMs"] is not None]
        figures("query user(READ_YOUR_WRITES) of whom I unfollowed", ryw)
        figures("  of which waited for the projection", waited)
        figures("query users(limit: 10)", [timed(lambda: gql(c, "{ users(limit: 10) { id } }")) for _ in range(calls)])


def browser(width: int = 1280, height: int = 720):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def cpu(pid: int, seconds: float) -> tuple[float, int]:
    import psutil

    p = psutil.Process(pid)
    rss = p.memory_info().rss
    t0 = p.cpu_times()
    time.sleep(seconds)
    t1 = p.cpu_times()
    used = (t1.user - t0.user) + (t1.system - t0.system)
    return used / seconds * 100, rss


def tabs_cpu(url: str, pid: int, window_s: float) -> None:
    print(f"\n=== the gateway's CPU with the page open ({window_s:.0f} s window each, the stack idle)", flush=True)
    pct0, rss0 = cpu(pid, window_s)
    print(f"  no tab:   {pct0:5.1f} % of one core, RSS {rss0 / 2**20:.0f} MiB", flush=True)
    driver = browser()
    try:
        driver.get(url)
        time.sleep(3)
        pct1, rss1 = cpu(pid, window_s)
        print(f"  1 tab:    {pct1:5.1f} % of one core, RSS {rss1 / 2**20:.0f} MiB", flush=True)
        for _ in range(9):
            driver.switch_to.new_window("tab")
            driver.get(url)
        time.sleep(3)
        import httpx

        clients = httpx.get(f"{url}/api/health").json()["clients"]
        pct10, rss10 = cpu(pid, window_s)
        print(f"  10 tabs:  {pct10:5.1f} % of one core, RSS {rss10 / 2**20:.0f} MiB ({clients} live clients)")
    finally:
        driver.quit()


def commit_to_drawn(settings, url: str, rate: float, seconds: float) -> None:
    from websockets.sync.client import connect

    from polydemo import load

    print(f"\n=== commit -> drawn on the page at {rate:.0f} sign-ups/s for {seconds:.0f} s", flush=True)
    driver = browser()
    origin: dict[str, float] = {}
    stop = threading.Event()

    def listen() -> None:
        with connect(url.replace("http://", "ws://") + "/api/live", open_timeout=10, max_size=2**24) as ws:
            while not stop.is_set():
                try:
                    msg = json.loads(ws.recv(timeout=1))
                except TimeoutError:
                    continue
                if msg["type"] == "flow" and msg["data"].get("origin_ms"):
                    origin[msg["data"]["id"]] = msg["data"]["origin_ms"]

    try:
        driver.get(url)
        time.sleep(3)
        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        prefix = f"bd{uuid.uuid4().hex[:6]}"
        n = int(rate * seconds)
        t0 = time.monotonic()
        load.signup_burst(settings, n, prefix, batch=10, rate=rate)
        took = time.monotonic() - t0
        time.sleep(5)  # the last changes reach the page
        drawn = driver.execute_script("return (window.polydemo && window.polydemo.drawn) || {}")
        handled = driver.execute_script("return (window.polydemo && window.polydemo.handled) || {}")
        stop.set()
        listener.join(5)
        mine = [i for i in origin if i.startswith("pg:user:")]
        lat = [drawn[i] - origin[i] for i in mine if i in drawn]
        done = [handled[i] - origin[i] for i in mine if i in handled]
        print(f"  {n} sign-ups in {took:.1f} s ({n / took:.0f}/s); {len(mine)} of their flows pushed on /api/live")
        figures("commit -> on the page (redraw done)", done)
        figures("commit -> drawn (listed or animated)", lat)
    finally:
        stop.set()
        driver.quit()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--window", type=float, default=20)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    home, owned = bench_env()
    from polydemo import seed, stack
    from polydemo.config import Settings
    from polydemo.runtime.local import LocalRuntime
    from polydemo.web import service

    settings = Settings.from_env()
    rt = LocalRuntime(settings)
    if owned:
        stack.bring_up(rt)
        seed.seed(settings)
        seed.wait_converged(settings, 90)
    started = service.start(settings) == "started"
    url = service.url(settings)
    with open("/proc/loadavg") as f:
        print(f"gateway {url} (pid {service.status(settings).pid}); /proc/loadavg {f.read().strip()}", flush=True)
    try:
        latency(url, args.calls)
        if args.no_browser or not Path("/usr/bin/chromedriver").exists():
            print("\n(no browser figures: --no-browser, or /usr/bin/chromedriver is absent: apt install chromium-driver)")
        else:
            tabs_cpu(url, service.status(settings).pid or 0, args.window)
            commit_to_drawn(settings, url, args.rate, args.seconds)
    finally:
        if started:
            service.stop(settings)
        if owned:
            stack.bring_down(rt)
            cleanup(home, owned)


if __name__ == "__main__":
    main()
