"""Benchmark: what one dashboard frame costs, and what `polydemo watch` costs at 4 Hz.

1. N frames (default 50): ``collect()`` against the stack, then ``render()`` printed to an off-screen
   100x30 terminal console. Prints p50/p99 of collect, render, and collect+render (wall time).
2. The live loop of `polydemo watch` (rich Live, full screen) at HZ (default 4) for SECONDS (default 10),
   drawing to an off-screen terminal console; prints the CPU time this process used (user+sys, from
   getrusage) as % of one core, and the frames drawn.

Targets: p50 collect+render <= 50 ms; <= 15 % of one core at 4 Hz.
Runs against the stack named by POLYDEMO_* (POLYDEMO_HOME, POLYDEMO_PORT_OFFSET, ...), which must be up;
it only reads from it. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import offscreen, pct, time_frames  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=50, help="frames to time (default 50)")
    ap.add_argument("--hz", type=float, default=4.0, help="live loop rate (default 4)")
    ap.add_argument("--seconds", type=float, default=10.0, help="live loop duration (default 10)")
    ap.add_argument("--warmup", type=float, default=10.0,
                    help="live loop seconds measured apart first (default 10): a new collector reads the CDC "
                         "topics' history for the schema versions then (100,000 sign-ups: ~2 s of CPU)")
    args = ap.parse_args()
    if not os.environ.get("POLYDEMO_HOME"):
        sys.exit("set POLYDEMO_HOME (and POLYDEMO_PORT_OFFSET) to a running stack, "
                 "e.g. POLYDEMO_HOME=/tmp/pdtest POLYDEMO_PORT_OFFSET=30000")

    from polydemo.dashboard.live import live_loop
    from polydemo.config import Settings
    from polydemo.dashboard.snapshot import Collector
    from polydemo.runtime import resolve_runtime_name

    settings = Settings.from_env()
    runtime = resolve_runtime_name(settings)
    print(f"stack: {settings.home} ({runtime} runtime), {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    # 1. Frame cost.
    collector = Collector(settings, runtime)
    t0 = time.perf_counter()
    prev = collector.collect()  # the first frame also opens every connection: reported, not counted
    first_ms = (time.perf_counter() - t0) * 1000
    down = [s.name for s in prev.services if not s.ok]
    prev, collect_ms, render_ms, total_ms = time_frames(collector, prev, args.n)
    print(f"\nfirst frame (connects to every store): {first_ms:.0f} ms{f'; DOWN: {down}' if down else ''}")
    print(f"{args.n} frames, 100x30:")
    for name, values in (("collect", collect_ms), ("render", render_ms), ("collect+render", total_ms)):
        print(f"  {name:<15} p50 {pct(values, 50):6.1f} ms   p99 {pct(values, 99):6.1f} ms   max {max(values):6.1f} ms")
    verdict = "OK" if pct(total_ms, 50) <= 50 else "OVER"
    print(f"  target p50 collect+render <= 50 ms: {verdict}")

    # 2. CPU at the live rate, through the same loop as `polydemo watch` on a terminal.
    live = Collector(settings, runtime)
    live.collect()  # connections opened before measuring
    frames = []
    collect = live.collect

    def counted(prev=None):
        snap = collect(prev)
        frames.append(snap.collect_ms)
        return snap

    live.collect = counted
    if args.warmup > 0:
        c0, w0 = cpu_seconds(), time.monotonic()
        live_loop(live, offscreen(), args.hz, seconds=args.warmup)
        share = 100 * (cpu_seconds() - c0) / (time.monotonic() - w0)
        print(f"\nlive loop, its first {args.warmup:g} s (the schema history read included): {share:.1f} % of one core")
        frames.clear()
    c0, w0 = cpu_seconds(), time.monotonic()
    live_loop(live, offscreen(), args.hz, seconds=args.seconds)
    cpu, wall = cpu_seconds() - c0, time.monotonic() - w0
    drawn = len(frames)
    share = 100 * cpu / wall
    print(f"live loop at {args.hz:g} Hz for {wall:.1f} s after that (off-screen 100x30): {drawn} frames, "
          f"collect p50 {pct(frames, 50):.1f} ms")
    print(f"  CPU {cpu:.2f} s = {share:.1f} % of one core ({1000 * cpu / max(drawn, 1):.1f} ms CPU per frame)")
    print(f"  target <= 15 % of one core: {'OK' if share <= 15 else 'OVER'}")
    collector.close()
    live.close()


if __name__ == "__main__":
    main()
