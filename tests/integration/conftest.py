"""The integration suite's own real stack: its own ports (offset 20000) and its own run directory.

Started once per test session (all 7 servers, schemas, the Debezium connector, the projectors
and the relay), seeded, and stopped at the end. It never touches a demo running on the default
ports or in .polydemo/. Nothing here is mocked.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest

# POLYDEMO_TEST_PORT_OFFSET lets two suites (two worktrees, say) run side by side on one machine.
TEST_OFFSET = os.environ.get("POLYDEMO_TEST_PORT_OFFSET", "20000")


@pytest.fixture(scope="session")
def stack_env():
    home = tempfile.mkdtemp(prefix="polydemo-test-")
    os.chmod(home, 0o755)  # the postgres system user must reach its data directory
    old = {k: os.environ.get(k) for k in ("POLYDEMO_HOME", "POLYDEMO_PORT_OFFSET", "POLYDEMO_RUNTIME")}
    os.environ.update({"POLYDEMO_HOME": home, "POLYDEMO_PORT_OFFSET": TEST_OFFSET, "POLYDEMO_RUNTIME": "local"})
    yield home
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def runtime(stack_env):
    from polydemo.config import Settings
    from polydemo.runtime.local import LocalRuntime

    return LocalRuntime(Settings.from_env())


@pytest.fixture(scope="session")
def stack(runtime, stack_env):
    """A running, seeded stack; yields its Settings."""
    from polydemo import seed, stack as stack_lib

    settings = runtime.settings
    t0 = time.monotonic()
    try:
        stack_lib.bring_up(runtime)
        print(f"\n[stack] up in {time.monotonic() - t0:.1f}s at {settings.home}")
        seed.seed(settings)
        assert seed.wait_converged(settings, timeout=90), "projectors did not catch up after the seed"
        yield settings
    finally:
        stack_lib.bring_down(runtime)
        if os.environ.get("POLYDEMO_KEEP_TEST_HOME") != "1":
            shutil.rmtree(stack_env, ignore_errors=True)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; returns (value, seconds)."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        last = predicate()
        if last:
            return last, time.monotonic() - t0
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
