"""polydemo/diskspace.py through its statvfs seam, and where it shows: status's lines, doctor, the dashboard."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from rich.console import Console

from polydemo import diskspace, doctor, views
from polydemo.config import Settings
from polydemo.dashboard.collector import mark_disks
from polydemo.dashboard.model import ServiceHealth, Snapshot
from polydemo.dashboard.render import render, staleness
from polydemo.runtime.base import ServiceStatus

FIXTURES = Path(__file__).parent / "fixtures"
MiB = 1024 * 1024


def fake_statvfs(free_by_prefix: dict[str, int], total: int = 256 * MiB):
    """A statvfs whose f_bavail is the free bytes of the longest matching path prefix (4 kB blocks)."""

    def statvfs(path: str) -> os.statvfs_result:
        best = max((p for p in free_by_prefix if path.startswith(p)), key=len, default=None)
        if best is None:
            raise FileNotFoundError(path)
        free = free_by_prefix[best]
        return os.statvfs_result((4096, 4096, total // 4096, free // 4096, free // 4096, 0, 0, 0, 0, 255))

    return statvfs


def settings_at(home: Path) -> Settings:
    return Settings.from_env(home=home)


def test_thresholds_full_low_ok():
    assert diskspace.state_of(0) == "full"
    assert diskspace.state_of(16 * MiB - 1) == "full"
    assert diskspace.state_of(16 * MiB) == "low"
    assert diskspace.state_of(64 * MiB - 1) == "low"
    assert diskspace.state_of(64 * MiB) == "ok"


def test_kafka_is_its_log_dir_and_a_missing_dir_is_its_nearest_parent(tmp_path):
    s = settings_at(tmp_path)
    (tmp_path / "data" / "kafka" / "log").mkdir(parents=True)
    fake = fake_statvfs({str(tmp_path / "data" / "kafka"): 0, str(tmp_path): 500 * MiB})
    found = {u.service: u for u in diskspace.check(s, ["kafka", "postgres"], fake)}
    assert found["kafka"].path == str(tmp_path / "data" / "kafka" / "log")
    assert found["kafka"].what == "kafka log dir" and found["kafka"].full
    assert found["postgres"].path == str(tmp_path / "data")  # data/postgres does not exist yet
    assert found["postgres"].what == "postgres data dir" and found["postgres"].state == "ok"
    assert [u.service for u in diskspace.full(found.values())] == ["kafka"]
    assert found["kafka"].as_dict()["what"] == "kafka log dir"


def test_an_unreadable_directory_is_left_out(tmp_path):
    def refuses(path: str) -> os.statvfs_result:
        raise PermissionError(path)

    assert diskspace.check(settings_at(tmp_path), ["postgres"], refuses) == []


def test_uses_what_an_unprivileged_user_may_take():
    # f_bfree (root's) is large, f_bavail (everyone's) is zero: full.
    st = os.statvfs_result((4096, 4096, 1000, 900, 0, 0, 0, 0, 0, 255))
    u = diskspace.usage("postgres", Path("/x"), lambda _: st)
    assert u is not None and u.free_bytes == 0 and u.full and u.total_bytes == 4096 * 1000


def test_the_line_names_the_directory_its_space_and_the_fix():
    u = diskspace.DiskUsage("kafka", "/h/data/kafka/log", 0, 60 * MiB, "full")
    stopped = diskspace.line(u, running=False)
    assert stopped.startswith("disk full: kafka log dir /h/data/kafka/log, 0 B free of 60.0 MB")
    assert "`polydemo up`" in stopped
    assert "fail until then" in diskspace.line(u, running=True)
    assert diskspace.human(1536) == "1.5 kB" and diskspace.human(3 * 1024**3) == "3.00 GB"


def _status(name: str, pid: int | None) -> ServiceStatus:
    return ServiceStatus(name, "e", None, 1, pid, "healthy" if pid else "stopped", "", None, None)


def test_status_lines_escape_markup_and_skip_what_has_room():
    usages = [
        diskspace.DiskUsage("kafka", "/h/[bold]x\x1b/log", 0, 60 * MiB, "full"),
        diskspace.DiskUsage("postgres", "/h/data/postgres", 40 * MiB, 512 * MiB, "low"),
        diskspace.DiskUsage("redis", "/h/data/redis", 400 * MiB, 512 * MiB, "ok"),
    ]
    lines = views.disk_lines(usages, [_status("kafka", None), _status("postgres", 12)])
    assert len(lines) == 2
    assert lines[0].startswith("[bad]✘[/bad] disk full: kafka log dir /h/\\[bold]x\\x1b/log")
    assert "then `polydemo up` (it restarts kafka)" in lines[0]
    assert lines[1].startswith("[warn]⚠[/warn] disk low: postgres data dir")
    buf = io.StringIO()
    Console(file=buf, width=200).print(lines[0])
    assert "[bold]x\\x1b" in buf.getvalue()  # shown as written, not taken as markup or a terminal escape


def test_doctor_lists_a_full_data_dir_as_a_problem_with_its_fix(tmp_path):
    s = settings_at(tmp_path)
    fake = fake_statvfs({str(tmp_path / "data" / "postgres"): 4 * MiB, str(tmp_path): 900 * MiB})
    (tmp_path / "data" / "postgres").mkdir(parents=True)
    checks = doctor.data_dir_checks(s, fake)
    assert [(c.name, c.ok) for c in checks] == [("disk: postgres data dir", False)]
    assert "4.0 MB free of 256.0 MB" in checks[0].detail and "`polydemo up`" in checks[0].fix
    assert doctor.data_dir_checks(s, fake_statvfs({str(tmp_path): 900 * MiB})) == []


def _snap(down: str | None = None) -> Snapshot:
    data = json.loads((FIXTURES / "snapshot_live.json").read_text())
    snap = Snapshot.from_dict(data)
    if down:
        svc = snap.service(down)
        assert svc is not None
        svc.ok, svc.error, svc.down_since = False, "connection refused", snap.taken_at - 5
        setattr(snap, down, None)
    return snap


def text_of(snap: Snapshot) -> str:
    console = Console(record=True, width=140, height=40, no_color=True, file=io.StringIO())
    console.print(render(snap, width=140, height=40), crop=True)
    return console.export_text()


def test_the_collector_marks_the_service_whose_disk_is_full(tmp_path):
    s = settings_at(tmp_path)
    (tmp_path / "data" / "kafka" / "log").mkdir(parents=True)
    snap = _snap(down="kafka")
    mark_disks(snap, s, fake_statvfs({str(tmp_path / "data" / "kafka"): 0, str(tmp_path): 900 * MiB}))
    kafka, postgres = snap.service("kafka"), snap.service("postgres")
    assert kafka is not None and kafka.disk == "full" and "kafka log dir" in (kafka.disk_line or "")
    assert "`polydemo up`" in (kafka.disk_line or "")  # it is down: restart it once there is room
    assert postgres is not None and postgres.disk is None
    again = Snapshot.from_json(snap.to_json())
    assert again.service("kafka") == kafka  # the new fields survive a recorded snapshot


def test_the_dashboard_shows_the_full_disk_on_the_service_and_in_the_footer():
    snap = _snap(down="kafka")
    kafka = snap.service("kafka")
    assert kafka is not None
    kafka.disk, kafka.disk_line = "full", "disk full: kafka log dir /h/log, 0 B free of 60.0 MB · free space on /h/log"
    text = text_of(snap)
    assert "kafka down since" in text and "· disk full" in text
    assert "✘ disk full: kafka log dir /h/log, 0 B free" in text


def test_a_full_disk_on_a_running_postgres_and_on_a_stopped_one():
    snap = _snap()
    pg = snap.service("postgres")
    assert pg is not None
    pg.disk, pg.disk_line = "full", "disk full: postgres data dir /h/pg, 0 B free of 512.0 MB · free space on /h/pg"
    assert "✘ postgres · disk full" in text_of(snap)
    assert staleness(snap)[0][0].startswith("✘ disk full: postgres data dir")
    down = _snap(down="postgres")
    pg = down.service("postgres")
    assert pg is not None
    pg.disk, pg.disk_line = "full", "disk full: postgres data dir /h/pg · free space, then `polydemo up`"
    assert staleness(down) == [("✘ disk full: postgres data dir /h/pg · free space, then `polydemo up`", "bold red")]


def test_old_snapshots_without_the_fields_still_load():
    snap = Snapshot.from_dict({"taken_at": 1.0, "runtime": "local", "services": [{"name": "kafka", "ok": True}]})
    assert snap.services == [ServiceHealth("kafka", True)]


def test_a_disk_full_refusal_is_not_called_unreachable():
    import psycopg

    from polydemo.cli.context import out_of_space, store_of

    full = psycopg.errors.DiskFull('could not extend file "base/16384/16385": No space left on device')
    assert out_of_space(full) and store_of(full) == "PostgreSQL"
    assert not out_of_space(psycopg.OperationalError("connection refused"))


PG_LOG = """\
2026-12-04 03:59:33.402 UTC [4305] PANIC:  could not write to file "pg_wal/xlogtemp.4305": No space left on device
2026-12-04 03:59:33.570 UTC [4708] FATAL:  could not write to file "pg_wal/xlogtemp.4708": No space left on device
2026-12-04 03:59:33.573 UTC [4298] LOG:  shutting down due to startup process failure
2026-12-04 03:59:33.574 UTC [4298] LOG:  database system is shut down
"""
KAFKA_LOG = """\
[2026-12-04 03:55:38,000] ERROR Error while appending records to polydemo.public.follows-3 in dir /h/log
java.io.IOException: No space left on device
[2026-12-04 03:55:38,076] ERROR Shutdown broker because all log dirs in /h/log have failed (kafka.log.LogManager)
[2026-12-04 03:55:38,100] INFO [BrokerServer id=1] shutting down (kafka.server.BrokerServer)
"""


def test_why_a_server_stopped_is_read_from_its_log():
    assert diskspace.ran_out(PG_LOG) == PG_LOG.splitlines()[1]
    assert "Shutdown broker because all log dirs in /h/log have failed" in (diskspace.ran_out(KAFKA_LOG) or "")
    assert diskspace.ran_out("LOG:  database system is shut down\n") is None  # a plain `polydemo down`
    assert diskspace.ran_out("") is None


def test_status_says_a_server_stopped_for_want_of_space_and_the_one_command():
    roomy = diskspace.DiskUsage("postgres", "/h/data/postgres", 400 * MiB, 487 * MiB, "ok")
    full = diskspace.DiskUsage("postgres", "/h/data/postgres", 0, 487 * MiB, "full")
    why = {"postgres": "FATAL: could not write to file: No space left on device"}
    lines = views.disk_lines([roomy], [_status("postgres", None)], why)
    assert lines == [
        "[bad]✘[/bad] postgres stopped: it ran out of disk space (its log: FATAL: could not write to file: No space "
        "left on device); 400.0 MB free now · `polydemo up` restarts it"
    ]
    lines = views.disk_lines([full], [_status("postgres", None)], why)
    assert lines[0].endswith("0 B free now · free space, then `polydemo up`")
    assert lines[1].startswith("[bad]✘[/bad] disk full: postgres data dir")


def test_up_refuses_to_start_a_server_on_a_full_disk(tmp_path):
    import pytest

    from polydemo.errors import PolydemoError
    from polydemo.runtime.local import LocalRuntime

    s = settings_at(tmp_path)
    (tmp_path / "data" / "postgres").mkdir(parents=True)
    rt = LocalRuntime(s)
    rt.statvfs = fake_statvfs({str(tmp_path / "data" / "postgres"): 1 * MiB, str(tmp_path): 900 * MiB})
    rt.problems = lambda services=None: {}  # type: ignore[method-assign]  # installed or not: not the point here
    assert [u.service for u in rt.full_disks(["postgres", "redis"])] == ["postgres"]
    with pytest.raises(PolydemoError) as err:
        rt.preflight(["postgres", "redis"])
    assert str(err.value).startswith("postgres cannot start: its data dir is full (1.0 MB free of 256.0 MB at ")
    assert "free space there, then `polydemo up` again" in (err.value.hint or "")


def test_up_waits_for_a_port_only_a_client_connection_holds(tmp_path, monkeypatch):
    """A client retrying a stopped server whose port is in the ephemeral range can be given that port as its own
    (the disk-full drill's Kafka on 42092): `up` waits for it to let go, and refuses at once for a listener."""
    from polydemo import procs
    from polydemo.runtime import local

    rt = local.LocalRuntime(settings_at(tmp_path))
    seen: list[str] = []
    monkeypatch.setattr(local.time, "sleep", lambda s: None)
    monkeypatch.setattr(procs, "port_clients", lambda port: ["pid 7 (python3)"])
    answers = [[("kafka", 42092, None)], []]
    monkeypatch.setattr(rt, "port_clashes", lambda services: answers.pop(0))
    held = [("kafka", 42092, None)]
    assert rt._settled(held, ["kafka"], lambda svc, st, detail: seen.append(detail)) == []
    assert set(seen) == {"port 42092 held by a client connection of pid 7 (python3), until it closes"}
    listener = [("kafka", 42092, "pid 9 (java)")]
    assert rt._settled(listener, ["kafka"]) == listener  # a server listens there: no waiting


def test_a_port_a_client_keeps_is_named_with_the_ephemeral_range(tmp_path, monkeypatch):
    import pytest

    from polydemo import procs
    from polydemo.errors import PortInUseError
    from polydemo.runtime import local

    rt = local.LocalRuntime(settings_at(tmp_path))
    monkeypatch.setattr(local, "PORT_SETTLE_S", 0.0)
    monkeypatch.setattr(rt, "problems", lambda services=None: {})
    monkeypatch.setattr(rt, "full_disks", lambda services: [])
    monkeypatch.setattr(rt, "port_clashes", lambda services: [("kafka", 42092, None)])
    monkeypatch.setattr(procs, "port_clients", lambda port: ["pid 7 (python3)"])
    monkeypatch.setattr(procs, "ephemeral_range", lambda: (32768, 60999))
    with pytest.raises(PortInUseError) as err:
        rt.preflight(["kafka"])
    assert str(err.value) == "port 42092 for kafka is already in use by a client connection of pid 7 (python3)"
    assert "ephemeral port range (32768-60999)" in (err.value.hint or "")


# ---------------------------------------------------------------- the docker runtime: df in the container

COREUTILS = """Filesystem     1024-blocks    Used Available Capacity Mounted on
/dev/loop3          245679  241583         0     100% /var/lib/kafka/data
"""
BUSYBOX = """Filesystem           1024-blocks      Used Available Capacity Mounted on
overlay               61255492  40235812  17878560  69% /
"""


def test_df_in_a_container_is_read_in_posix_format_from_coreutils_and_busybox():
    assert diskspace.parse_df(COREUTILS) == (245679 * 1024, 0)
    assert diskspace.parse_df(BUSYBOX) == (61255492 * 1024, 17878560 * 1024)
    assert diskspace.parse_df("df: /nope: No such file or directory\n") is None
    assert diskspace.parse_df("") is None


class Exec:
    def __init__(self, exit_code: int, output: bytes):
        self.exit_code, self.output = exit_code, output


class Container:
    """The part of a docker SDK container ``container_disk`` uses."""

    def __init__(self, output: str, exit_code: int = 0):
        self.asked: list[list[str]] = []
        self.result = Exec(exit_code, output.encode())
        self.attrs = {
            "Mounts": [{"Type": "volume", "Name": "polydemo_kafka_data", "Destination": "/var/lib/kafka/data"}]
        }

    def exec_run(self, argv: list[str]) -> Exec:
        self.asked.append(argv)
        return self.result


def test_a_containers_full_volume_is_named_by_its_path_and_volume():
    from polydemo.runtime.docker.runtime import container_disk

    c = Container(COREUTILS)
    u = container_disk("kafka", c)
    assert c.asked == [["df", "-Pk", "/var/lib/kafka/data"]]
    assert u is not None and u.full and u.free_bytes == 0
    assert u.path == "/var/lib/kafka/data (volume polydemo_kafka_data)" and u.what == "kafka log dir"
    assert container_disk("kafka", Container("oops", exit_code=1)) is None
    assert container_disk("web", Container(COREUTILS)) is None  # no data volume known for it
