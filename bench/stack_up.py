"""Benchmark: cold `up` to all-healthy, warm `up`, and the stack's total RSS.

Cold = a new run directory (initdb x2, Kafka storage format, empty Neo4j/Mongo); warm = the same
directory again after `down`. Both include schemas, the connector reaching RUNNING and the
projectors starting. Prints figures; asserts nothing. Targets: cold <= 20 s, RSS <= 3 GB.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_env, cleanup  # noqa: E402


def main() -> None:
    home, owned = bench_env()
    from polydemo import procs, stack
    from polydemo.config import Settings
    from polydemo.pipeline import workers
    from polydemo.runtime.local import LocalRuntime

    settings = Settings.from_env()
    rt = LocalRuntime(settings)
    try:
        t0 = time.monotonic()
        cold = stack.bring_up(rt)
        cold_s = time.monotonic() - t0
        servers_s = cold.servers.seconds
        time.sleep(5)  # let the JVMs settle before reading RSS
        statuses = rt.status()
        rss = {s.service: s.rss_bytes or 0 for s in statuses}
        for n in workers.WORKERS:
            proc = procs.alive(workers.pid_file(settings, n))
            rss[f"projector-{n}"] = procs.tree_rss(proc) if proc else 0
        stack.bring_down(rt)
        t0 = time.monotonic()
        stack.bring_up(rt)
        warm_s = time.monotonic() - t0
        t0 = time.monotonic()
        stack.bring_up(rt)
        again_s = time.monotonic() - t0
        stack.bring_down(rt)
    finally:
        stack.bring_down(rt)
        cleanup(home, owned)
    print(f"cold up (all 7 healthy):              {servers_s:6.1f} s")
    print(f"cold up + schemas + CDC + projectors: {cold_s:6.1f} s   (target <= 20 s)")
    print(f"warm up (after down, data kept):      {warm_s:6.1f} s")
    print(f"up when already running:              {again_s:6.1f} s")
    total = sum(rss.values())
    for name, b in sorted(rss.items(), key=lambda kv: -kv[1]):
        print(f"  RSS {name:<22} {b / 2**20:7.1f} MB")
    print(f"total RSS:                            {total / 2**30:6.2f} GB  (target <= 3 GB)")


if __name__ == "__main__":
    main()
