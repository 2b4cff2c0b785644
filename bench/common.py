"""Shared set-up for the benchmark scripts: a stack of their own (offset 10000, temp home) unless told otherwise."""

from __future__ import annotations

import os
import shutil
import tempfile


def bench_env() -> tuple[str, bool]:
    """Point POLYDEMO_* at a benchmark stack. Returns (home, owned): owned means we made it and remove it."""
    if os.environ.get("POLYDEMO_HOME"):
        return os.environ["POLYDEMO_HOME"], False
    home = tempfile.mkdtemp(prefix="polydemo-bench-")
    os.chmod(home, 0o755)
    os.environ["POLYDEMO_HOME"] = home
    os.environ.setdefault("POLYDEMO_PORT_OFFSET", "10000")
    os.environ["POLYDEMO_RUNTIME"] = "local"
    return home, True


def cleanup(home: str, owned: bool) -> None:
    if owned:
        shutil.rmtree(home, ignore_errors=True)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]
