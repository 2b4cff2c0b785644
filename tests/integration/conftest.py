"""The integration suite's own real stack: its own ports (offset 20000) and its own run directory.

Started once per test session (all 7 servers, schemas, the Debezium connector, the projectors
and the relay), seeded, and stopped at the end by ``polydemo down``, which is checked there:
every server and pipeline process ends and no pid file is left alive (a failure is reported as
an error at the teardown of the last test that used the stack). It never touches a demo running
on the default ports or in .polydemo/. Nothing here is mocked.

Every test under tests/integration/ is marked ``integration``: ``pytest -m "not integration"``
(``make unit``) runs the rest without a stack.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

# POLYDEMO_TEST_PORT_OFFSET lets two suites (two worktrees, say) run side by side on one machine.
TEST_OFFSET = os.environ.get("POLYDEMO_TEST_PORT_OFFSET", "20000")
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


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
    """A running, seeded stack; yields its Settings. Its teardown is the `polydemo down` check."""
    from polydemo import seed
    from polydemo import stack as stack_lib

    settings = runtime.settings
    t0 = time.monotonic()
    problems: list[str] = []
    try:
        stack_lib.bring_up(runtime)
        print(f"\n[stack] up in {time.monotonic() - t0:.1f}s at {settings.home}")
        seed.seed(settings)
        assert seed.wait_converged(settings, timeout=90), "projectors did not catch up after the seed"
        yield settings
        problems = down_leaves_no_process_behind(runtime)
    finally:
        stack_lib.bring_down(runtime)  # a no-op after a clean `down`; the clean-up when anything failed
        if os.environ.get("POLYDEMO_KEEP_TEST_HOME") != "1":
            shutil.rmtree(stack_env, ignore_errors=True)
    assert not problems, "`polydemo down` left the stack running: " + "; ".join(problems)


@pytest.fixture(scope="session")
def web(stack):
    """The web gateway (`polydemo web start`) over the suite's stack; yields its base URL. Stopped before the
    stack's `down` check (which would otherwise find its live pid file)."""
    from polydemo.web import service

    outcome = service.start(stack)
    assert outcome == "started", f"a web gateway was already running for the suite's home: {outcome}"
    try:
        yield service.url(stack)
    finally:
        service.stop(stack)


class AudienceGateway:
    """The suite's gateway restarted in audience mode, the audience's listener on 127.0.0.2 (loopback: no real
    network is ever listened on). ``code`` is read from the running gateway each time (a test may restart it)."""

    def __init__(self, settings, presenter: str, max_users: int | None = None):
        from polydemo.web import service

        self.settings = settings
        self.presenter = presenter
        self.options = service.audience_options(settings, "127.0.0.2", max_users)
        self.audience = f"http://127.0.0.2:{self.options.port}"

    def restart(self, max_users: int | None = None) -> None:
        from polydemo.web import service

        service.stop(self.settings)
        self.options = service.audience_options(self.settings, "127.0.0.2", max_users)
        assert service.start(self.settings, audience=self.options) == "started"

    @property
    def code(self) -> str:
        from polydemo.web import service

        info = service.audience_status(self.settings)
        assert info and info["active"], f"no audience session open: {info}"
        return info["code"]


@pytest.fixture(scope="module")
def audience(web, stack):
    """The gateway in audience mode for one module; the suite's plain gateway again afterwards."""
    from polydemo.web import service

    gw = AudienceGateway(stack, web)
    gw.restart()
    try:
        yield gw
    finally:
        service.stop(stack)
        assert service.start(stack) == "started"


def down_leaves_no_process_behind(runtime) -> list[str]:
    """Run `polydemo down --json` on the suite's stack; what is wrong with the outcome (empty: nothing)."""
    import psutil
    from typer.testing import CliRunner

    from polydemo import procs
    from polydemo.cli import app
    from polydemo.pipeline import workers

    settings = runtime.settings
    pids = [s.pid for s in runtime.status() if s.pid]
    children = [c.pid for p in pids for c in psutil.Process(p).children(recursive=True)]
    pids += [st.pid for st in (workers.status(settings, n) for n in workers.WORKERS) if st.pid]
    problems = []
    if len(pids) < 11:
        problems.append(f"only {len(pids)} of 7 servers + 4 pipeline processes were running before `down`")
    result = CliRunner().invoke(app, ["down", "--json"])
    if result.exit_code != 0:
        return [*problems, f"`down` exited {result.exit_code}: {result.output[-500:]}"]
    outcome = json.loads(result.stdout)["services"]
    if not set(outcome.values()) <= {"stopped", "killed"}:
        problems.append(f"outcomes {outcome}")
    alive = [p for p in pids + children if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    if alive:
        problems.append(f"still alive: {alive}")
    left = [f.name for f in settings.run_dir.glob("*.pid") if procs.alive(f)]
    if left:
        problems.append(f"live pid files: {left}")
    return problems


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
