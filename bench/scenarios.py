"""Wall time of every built-in scenario at --speed 1 and at --speed 100 (the fastest pacing: no pauses).

Runs against the stack named by POLYDEMO_* (it must be up and seeded). Prints figures; asserts nothing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    from polydemo.config import Settings
    from polydemo.runtime import get_runtime
    from polydemo.scenario import loader
    from polydemo.scenario.runner import ScenarioRunner, estimate_seconds

    settings = Settings.from_env()
    runtime = get_runtime(settings)
    speeds = [float(s) for s in (sys.argv[1:] or ["1", "100"])]
    print(f"{'scenario':<15}{'estimate':>9}" + "".join(f"{'speed ' + format(s, 'g'):>14}" for s in speeds))
    for name in loader.available():
        loaded = loader.load(name)
        cells = []
        for speed in speeds:
            t0 = time.monotonic()
            result = ScenarioRunner(settings, runtime, loaded, speed=speed).run()
            cells.append(f"{time.monotonic() - t0:8.1f}s {'ok' if result.passed else 'FAIL'}")
        print(f"{name:<15}{estimate_seconds(loaded):8.0f}s" + "".join(f"{c:>14}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
