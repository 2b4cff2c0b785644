"""Issue 27, part 2: the disk fills. Kafka's log dir, then Postgres' data dir, runs out of space mid-burst.

Each drill has a stack of its own (ports: POLYDEMO_PORT_OFFSET 33000, or POLYDEMO_DISK_PORT_OFFSET; a home under
/tmp/disk-*), whose one service's data directory is a small ext4 filesystem (a sparse image, loop-mounted there
before ``up``). Mid-burst of sign-ups and follows a filler file takes the rest of it; the burst goes on; every write
the app acknowledged and every one it refused is recorded (a refused write must fail within REFUSE_BOUND_S, with a
one-line error). ``status`` and the dashboard must name the full disk. Then the filler goes, recovery runs (nothing,
or the one command ``status`` names) and the drill asserts that every acknowledged write is in Postgres, Neo4j,
Redis and the time-series store exactly once, and that no refused write is half-written. The figures (acknowledged,
refused, per store, duplicates, seconds to converge) are printed and written to $POLYDEMO_DISK_REPORT (a JSON file)
when set; docs/faults.md has them.

Needs root (mount). Run alone: ``pytest tests/integration/test_fault_disk.py -s``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.conftest import wait_for

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mkfs.ext4") is None or shutil.which("mount") is None,
    reason="the disk-full drills mount a small filesystem: they need root, mount and mkfs.ext4",
)

OFFSET = os.environ.get("POLYDEMO_DISK_PORT_OFFSET", "33000")
REFUSE_BOUND_S = 10.0  # a refused write must say so within this (Users' statement timeout is 5 s)
FS_MB = {"kafka": 256, "postgres": 512}


@dataclass
class Ledger:
    """What the writer did: every write the app acknowledged and every one it refused (and how long that took)."""

    users: dict[str, str] = field(default_factory=dict)  # email -> id, acknowledged
    follows: list[tuple[str, str]] = field(default_factory=list)  # (follower id, followee id), acknowledged
    refused: list[tuple[str, str, float, str]] = field(default_factory=list)  # (kind, email, seconds, error line)
    slowest_ack_s: float = 0.0

    def as_dict(self) -> dict:
        return {
            "acknowledged_signups": len(self.users),
            "acknowledged_follows": len(self.follows),
            "refused": len(self.refused),
            "refused_max_s": round(max((r[2] for r in self.refused), default=0.0), 2),
            "refused_errors": sorted({r[3] for r in self.refused})[:5],
            "slowest_acknowledged_s": round(self.slowest_ack_s, 2),
        }


class Writer(threading.Thread):
    """Sign-ups and follows through the domain (one autocommit statement each), paced at ``rate`` writes/s."""

    def __init__(self, settings, prefix: str, rate: float = 20.0):
        super().__init__(daemon=True)
        self.settings, self.prefix, self.rate = settings, prefix, rate
        self.ledger = Ledger()
        self.stop = threading.Event()
        self.hung = False

    def run(self) -> None:
        from polydemo.domain import users as domain
        from polydemo.stores.postgres import Users

        gw = Users(self.settings, timeout=5)
        i = 0
        last: str | None = None
        while not self.stop.is_set():
            i += 1
            email = f"{self.prefix}-{i}@load.example"
            t = time.monotonic()
            try:
                user = domain.signup_without_password(self.settings, email, f"Disk {i}", users=gw)
                self.ledger.users[email] = user.id
                self._acked(t)
            except Exception as exc:  # noqa: BLE001 - every refusal is recorded, whatever its type
                self._refused("signup", email, t, exc)
                user = None
            if user is not None and last is not None:
                t = time.monotonic()
                try:
                    gw.follow(user.id, last)
                    self.ledger.follows.append((user.id, last))
                    self._acked(t)
                except Exception as exc:  # noqa: BLE001
                    self._refused("follow", email, t, exc)
            if user is not None:
                last = user.id
            time.sleep(1.0 / self.rate)
        with contextlib.suppress(Exception):
            gw.close()

    def _acked(self, t: float) -> None:
        self.ledger.slowest_ack_s = max(self.ledger.slowest_ack_s, time.monotonic() - t)

    def _refused(self, kind: str, email: str, t: float, exc: BaseException) -> None:
        took = time.monotonic() - t
        text = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:160]
        self.ledger.refused.append((kind, email, took, text))


# ---------------------------------------------------------------- the small filesystem


FS = os.environ.get("POLYDEMO_DISK_FS", "ext4")  # or tmpfs (docs/faults.md says what differs: nothing measured)


def make_fs(image: Path, mountpoint: Path, size_mb: int) -> None:
    """A sparse ext4 image of ``size_mb`` (no reserved blocks: what is free is free for every user), loop-mounted;
    with POLYDEMO_DISK_FS=tmpfs a tmpfs of that size instead (no image)."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    if FS == "tmpfs":
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(mountpoint)],
            check=True,
            capture_output=True,
        )
        return
    with open(image, "wb") as f:
        f.truncate(size_mb * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True, capture_output=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(mountpoint)], check=True, capture_output=True)
    shutil.rmtree(mountpoint / "lost+found", ignore_errors=True)  # initdb wants an empty directory


def unmount(mountpoint: Path) -> None:
    if subprocess.run(["umount", str(mountpoint)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)  # still busy: detach it


def fill(mountpoint: Path) -> Path:
    """Take every free byte of the filesystem with one file; returns it."""
    filler = mountpoint / "filler"
    st = os.statvfs(mountpoint)
    free = st.f_bavail * st.f_frsize
    if free > 2 * 1024 * 1024:
        subprocess.run(["fallocate", "-l", str(free - 2 * 1024 * 1024), str(filler)], check=True)
    fd = os.open(filler, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)  # unbuffered: no write left for close()
    try:
        chunk = b"\0" * 4096
        while True:  # the last blocks, one at a time, until the kernel says no
            try:
                os.write(fd, chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
    finally:
        os.close(fd)
    return filler


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


# ---------------------------------------------------------------- the stack


@pytest.fixture
def disk_stack(request):
    """A stack whose ``request.param`` service keeps its data on a small filesystem of its own; yields
    (runtime, the mount point)."""
    from polydemo import stack as stack_lib
    from polydemo.config import Settings
    from polydemo.errors import PolydemoError
    from polydemo.runtime.local import LocalRuntime

    service = request.param
    home = Path(tempfile.mkdtemp(prefix=f"disk-{service}-", dir="/tmp"))
    os.chmod(home, 0o755)  # the postgres system user must reach its data directory
    image = Path(f"{home}.img")
    keys = ("POLYDEMO_HOME", "POLYDEMO_PORT_OFFSET", "POLYDEMO_RUNTIME", "POLYDEMO_KAFKA_BROKERS")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({"POLYDEMO_HOME": str(home), "POLYDEMO_PORT_OFFSET": OFFSET, "POLYDEMO_RUNTIME": "local"})
    os.environ.pop("POLYDEMO_KAFKA_BROKERS", None)
    settings = Settings.from_env()
    mountpoint = settings.data_dir(service)
    runtime = LocalRuntime(settings)
    make_fs(image, mountpoint, FS_MB[service])
    try:
        t0 = time.monotonic()
        try:
            stack_lib.bring_up(runtime)
        except PolydemoError as exc:
            listening = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
            mine = "\n".join(ln for ln in listening.splitlines() if f":{settings.ports['kafka']} " in ln)
            pytest.fail(f"up failed: {exc}\n{exc.details or ''}\n{exc.hint or ''}\nlistening: {mine or 'nothing'}")
        print(f"\n[disk-{service}] up in {time.monotonic() - t0:.1f}s at {home}, {service} on {FS_MB[service]} MB {FS}")
        yield runtime, mountpoint
    finally:
        stack_lib.bring_down(runtime)
        if os.environ.get("POLYDEMO_KEEP_TEST_HOME") != "1" and not getattr(request.node, "drill_passed", False):
            kept = Path(f"/tmp/disk-logs-{service}-{int(time.time())}")  # the servers' logs, for a post-mortem
            shutil.copytree(settings.logs_dir, kept, dirs_exist_ok=True)
            print(f"\n[disk-{service}] failed: logs kept in {kept}")
        unmount(mountpoint)
        image.unlink(missing_ok=True)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if os.environ.get("POLYDEMO_KEEP_TEST_HOME") != "1":
            shutil.rmtree(home, ignore_errors=True)


def cli(*args: str, timeout: float = 180.0) -> subprocess.CompletedProcess:
    """``polydemo ARGS`` as a user runs it (its own process, this stack's environment): what the screen shows."""
    return subprocess.run(
        [sys.executable, "-m", "polydemo", *args], capture_output=True, text=True, timeout=timeout, env=os.environ
    )


def dashboard_text(settings) -> tuple[object, str]:
    """Two frames of the live dashboard (the second one with every store's answer), and the second as text."""
    from rich.console import Console

    from polydemo.dashboard.collector import Collector
    from polydemo.dashboard.render import render

    with Collector(settings, "local") as c:
        first = c.collect()
        snap = c.collect(first)
    console = Console(width=140, record=True, file=open(os.devnull, "w"))  # noqa: SIM115 - closed with the console
    console.print(render(snap, first, width=140, height=40))
    text = console.export_text()
    console.file.close()
    return snap, text


# ---------------------------------------------------------------- the checks


def store_counts(settings, ledger: Ledger) -> dict:
    """Per store: how many of the acknowledged writes it holds, and how many rows it holds for them (rows above
    the distinct count are duplicates)."""
    from polydemo.stores import cache, graph, postgres, timeseries

    ids = list(ledger.users.values())
    pairs = [list(p) for p in ledger.follows]
    out: dict = {}
    with postgres.connect(settings, timeout=5) as c:
        out["postgres_users"] = c.execute("SELECT count(*) FROM users WHERE id = ANY(%s::uuid[])", (ids,)).fetchone()[0]
        out["postgres_follows"] = c.execute(
            "SELECT count(*) FROM follows f JOIN unnest(%s::uuid[], %s::uuid[]) AS p(a, b) "
            "ON f.follower_id = p.a AND f.followee_id = p.b",
            ([p[0] for p in pairs], [p[1] for p in pairs]),
        ).fetchone()[0]
    with graph.connect(settings) as d, d.session() as s:
        rec = s.run(
            "MATCH (u:User) WHERE u.id IN $ids RETURN count(u) AS n, count(DISTINCT u.id) AS d", ids=ids
        ).single()
        out["neo4j_users"], out["neo4j_user_rows"] = rec["d"], rec["n"]
        rec = s.run(
            "UNWIND $pairs AS p MATCH (:User {id: p[0]})-[r:FOLLOWS]->(:User {id: p[1]}) "
            "RETURN count(r) AS n, count(DISTINCT p) AS d",
            pairs=pairs,
        ).single()
        out["neo4j_follows"], out["neo4j_follow_rows"] = rec["d"], rec["n"]
    r = cache.connect(settings)
    try:
        pipe = r.pipeline()
        for i in ids:
            pipe.exists(cache.profile_key(i))
        for a, b in pairs:
            pipe.sismember(cache.followers_key(b), a)
        got = pipe.execute()
    finally:
        r.close()
    out["redis_users"] = sum(1 for g in got[: len(ids)] if g)
    out["redis_follows"] = sum(1 for g in got[len(ids) :] if g)  # a set: a replay cannot add a second member
    with timeseries.connect(settings) as c:
        n, d = c.execute(
            "SELECT count(*), count(DISTINCT user_id) FROM events WHERE event_type = 'signed_up' "
            "AND user_id = ANY(%s::uuid[])",
            (ids,),
        ).fetchone()
        out["events_signed_up"], out["events_signed_up_rows"] = d, n
        n, d = c.execute(
            "SELECT count(*), count(DISTINCT (user_id, properties->>'followee_id')) FROM events "
            "WHERE event_type = 'followed' AND user_id = ANY(%s::uuid[])",
            (ids,),
        ).fetchone()
        out["events_followed"], out["events_followed_rows"] = d, n
    out["duplicates"] = (
        (out["neo4j_user_rows"] - out["neo4j_users"])
        + (out["neo4j_follow_rows"] - out["neo4j_follows"])
        + (out["events_signed_up_rows"] - out["events_signed_up"])
        + (out["events_followed_rows"] - out["events_followed"])
    )
    return out


def everywhere(settings, ledger: Ledger) -> dict | None:
    """The counts once every acknowledged write is in every store (None before)."""
    try:
        c = store_counts(settings, ledger)
    except Exception:  # noqa: BLE001 - a store still restarting: not yet
        return None
    users, follows = len(ledger.users), len(ledger.follows)
    want_users = ("postgres_users", "neo4j_users", "redis_users", "events_signed_up")
    want_follows = ("postgres_follows", "neo4j_follows", "redis_follows", "events_followed")
    if all(c[k] == users for k in want_users) and all(c[k] == follows for k in want_follows):
        return c
    return None


def refused_not_half_written(settings, ledger: Ledger) -> dict:
    """A refused sign-up is in no store, or (its commit was acknowledged by the server, the answer lost) in all;
    returns how many of each."""
    from polydemo.stores import cache, postgres

    emails = [r[1] for r in ledger.refused if r[0] == "signup"]
    with postgres.connect(settings, timeout=5) as c:
        rows = c.execute("SELECT email, id::text FROM users WHERE email = ANY(%s)", (emails,)).fetchall()
    written = dict(rows)
    r = cache.connect(settings)
    try:
        in_cache = {e for e in emails if r.exists(cache.email_key(e))}
    finally:
        r.close()
    half = [e for e in emails if (e in written) != (e in in_cache)]
    assert not half, f"refused sign-ups half-written (in Postgres xor in Redis): {half[:5]}"
    return {"refused_signups": len(emails), "refused_but_committed": len(written)}


def cli_signup(email: str) -> dict:
    """``polydemo signup`` as a user types it during the fault: its exit status, its message, how long it took."""
    t = time.monotonic()
    done = cli("signup", email, "--name", "Disk drill", "--password", "correct horse battery", timeout=60)
    took = time.monotonic() - t
    said = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in done.stderr, done.stderr
    assert took < REFUSE_BOUND_S + 10, f"`polydemo signup` took {took:.1f}s"  # + the interpreter's start
    return {"exit": done.returncode, "said": said[:3], "seconds": round(took, 2)}


def wal_pressure(settings, megabytes: int = 96) -> dict:
    """WAL without a new heap page: 1 MB logical messages in transactions that roll back (never decoded, so
    Debezium sends nothing), until Postgres needs a new WAL segment on the full disk; what it said and did."""
    import psycopg

    from polydemo.stores import postgres

    t = time.monotonic()
    error = None
    written = 0
    try:
        with postgres.connect(settings, autocommit=False, timeout=10) as c:
            for _ in range(megabytes):
                c.execute("SELECT pg_logical_emit_message(true, 'polydemo-disk-drill', repeat('x', 1048576))")
                c.rollback()
                written += 1
    except psycopg.Error as exc:
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:200]
    return {"mb_written": written, "error": error, "seconds": round(time.monotonic() - t, 2)}


def report(name: str, figures: dict) -> None:
    print(f"\n[disk-{name}] " + json.dumps(figures, indent=1, default=str))
    path = os.environ.get("POLYDEMO_DISK_REPORT")
    if path:
        doc = json.loads(Path(path).read_text()) if Path(path).exists() else {}
        doc[name] = figures
        Path(path).write_text(json.dumps(doc, indent=1, default=str))


def full_disk_named(settings, service: str) -> dict:
    """``status`` (text and --json) and the dashboard name the full disk of ``service``; returns what they said."""
    status = cli("status")
    lines = [ln for ln in (status.stdout + status.stderr).splitlines() if "disk full" in ln]
    assert any(service in ln and str(settings.data_dir(service)) in ln for ln in lines), status.stdout + status.stderr
    assert status.returncode == 1, "status exits 1 while a disk is full"
    doc = json.loads(cli("status", "--json").stdout)
    assert any(d["service"] == service and d["state"] == "full" for d in doc["disks"]), doc["disks"]
    snap, text = dashboard_text(settings)
    svc = snap.service(service)
    assert svc is not None and svc.disk == "full", svc
    assert f"{service} down since" in text or f"✘ {service} · disk full" in text, text
    assert "disk full:" in text, text
    states = {s["service"]: s["state"] for s in doc["services"]}
    return {"status_line": lines[0].strip(), "service_states": states, "dashboard_header_has": f"{service} disk full"}


# ---------------------------------------------------------------- the drills


def drill(runtime, mountpoint: Path, service: str) -> dict:
    settings = runtime.settings
    prefix = f"disk{service[:2]}{uuid.uuid4().hex[:4]}"
    writer = Writer(settings, prefix)
    fs = f"tmpfs {FS_MB[service]} MB" if FS == "tmpfs" else f"ext4 {FS_MB[service]} MB (loop)"
    figures: dict = {"fault": f"{service} data dir full mid-burst", "fs": fs}
    writer.start()
    try:
        wait_for(lambda: len(writer.ledger.users) >= 100, timeout=60, interval=0.2, what="100 acknowledged sign-ups")
        filler = fill(mountpoint)
        t_full = time.monotonic()
        figures["acked_before_fill"] = len(writer.ledger.users) + len(writer.ledger.follows)
        figures["free_after_fill"] = free_bytes(mountpoint)
        # The burst goes on against the full disk; status and the dashboard must say which disk is full.
        time.sleep(10)
        figures["cli_signup"] = cli_signup(f"{prefix}-cli@load.example")
        if service == "postgres":
            figures["wal"] = wal_pressure(settings)
        time.sleep(10)
        figures["screen"] = full_disk_named(settings, service)
        figures["states_while_full"] = {s.service: s.state for s in runtime.status()}
        if figures["states_while_full"][service] == "stopped":  # `up` on the full disk: refused, saying why
            refused_up = cli("up")
            said = [ln.strip() for ln in refused_up.stderr.splitlines() if ln.strip()]
            assert refused_up.returncode != 0 and any(f"{service} cannot start: its" in ln for ln in said), said
            figures["up_while_full"] = said[-2:]
        figures["cli_signup_later"] = cli_signup(f"{prefix}-cli2@load.example")
        time.sleep(5)
        ledger_at_free = len(writer.ledger.users) + len(writer.ledger.follows)
    finally:
        writer.stop.set()
        writer.join(timeout=30)
    assert not writer.is_alive(), "the writer hung"
    filler.unlink()
    t_freed = time.monotonic()
    figures["seconds_full"] = round(t_freed - t_full, 1)
    figures["writes"] = writer.ledger.as_dict()
    figures["acked_total"] = ledger_at_free
    refused = writer.ledger.refused
    assert all(r[2] < REFUSE_BOUND_S for r in refused), f"a refused write took {max(r[2] for r in refused):.1f}s"

    # What recovers alone: give it 30 s with space back, then do what status says.
    alone = None
    with contextlib.suppress(AssertionError):
        alone, _ = wait_for(lambda: everywhere(settings, writer.ledger), timeout=30, interval=1.0, what="alone")
    figures["recovered_alone"] = alone is not None
    figures["states_after_free"] = {s.service: s.state for s in runtime.status()}
    t_cmd = t_freed
    if alone is None:
        status = cli("status")
        said = [ln.strip() for ln in (status.stdout + status.stderr).splitlines()]
        stopped = [name for name, st in figures["states_after_free"].items() if st == "stopped"]
        why = [ln for ln in said if "stopped: it ran out of disk space" in ln]
        assert stopped and all(any(ln.startswith(f"✘ {n} stopped") for ln in why) for n in stopped), said
        assert all("`polydemo up`" in ln for ln in why), why
        figures["status_after_free"] = why
        t_cmd = time.monotonic()
        up = cli("up")
        figures["command"] = "polydemo up"
        figures["up_seconds"] = round(time.monotonic() - t_cmd, 1)
        figures["up_exit"] = up.returncode
        figures["up_said"] = [ln for ln in up.stderr.splitlines() if ln.strip()][-4:]
        # While Kafka was down, a client retrying 127.0.0.1:42092 (inside the ephemeral range) may have been given
        # 42092 as its own port: `up` then waits for it (LocalRuntime._settled) and says so.
        figures["up_waited_for_a_client_port"] = "held by a client connection" in up.stderr
        sockets = subprocess.run(["ss", "-tanp"], capture_output=True, text=True).stdout
        held = [ln for ln in sockets.splitlines() if f"127.0.0.1:{settings.ports['kafka']} " in ln]
        assert up.returncode == 0, "\n".join(
            [*(ln for ln in up.stderr.splitlines() if "error" in ln or "hint" in ln), "sockets:", *held[:10]]
        )
    counts, _ = wait_for(
        lambda: everywhere(settings, writer.ledger), timeout=240, interval=1.0, what="every acknowledged write"
    )
    figures["seconds_to_converge"] = round(time.monotonic() - t_freed, 1)  # from the filler's removal
    if alone is None:
        figures["seconds_after_command"] = round(time.monotonic() - t_cmd, 1)
    figures["counts"] = counts
    figures["refused_check"] = refused_not_half_written(settings, writer.ledger)
    log = settings.log_file(service).read_text(errors="replace").splitlines()
    figures["server_said"] = sorted(
        {
            ln.split("] ", 1)[-1][:160]
            for ln in log
            if any(w in ln for w in ("PANIC", "FATAL", "halt", "failed", "LOG:  database system"))
        }
    )[:12]
    final = cli("status")
    figures["status_after"] = final.returncode
    report(f"{service}-{FS}", figures)
    assert counts["duplicates"] == 0, counts
    assert final.returncode == 0, final.stdout + final.stderr
    return figures


@pytest.mark.parametrize("disk_stack", ["kafka"], indirect=True)
def test_kafka_log_dir_fills_mid_burst(disk_stack, request):
    runtime, mountpoint = disk_stack
    figures = drill(runtime, mountpoint, "kafka")
    # Kafka's disk refuses none of the app's writes: Postgres (the system of record) acknowledges them all.
    assert figures["writes"]["refused"] == 0, figures["writes"]
    request.node.drill_passed = True


@pytest.mark.parametrize("disk_stack", ["postgres"], indirect=True)
def test_postgres_data_dir_fills_mid_burst(disk_stack, request):
    runtime, mountpoint = disk_stack
    figures = drill(runtime, mountpoint, "postgres")
    assert figures["writes"]["refused"] > 0, "a full Postgres disk refused nothing: the drill did not fill it"
    request.node.drill_passed = True
