"""Free space on each service's data directory (the local runtime's ``<home>/data/<service>``), and which are full.

Pure but for one seam: every function takes the ``statvfs`` to call (``os.statvfs`` by default), so the unit
tests hand in a fake filesystem. ``polydemo status``, ``doctor`` and the dashboard read :func:`check`.

When a directory counts as full (:data:`FULL_BELOW`): under 16 MiB available to an unprivileged user
(``f_bavail``: what the ``postgres`` system user may still take; root's reserved blocks are not counted). 16 MiB is
one PostgreSQL WAL segment: Postgres makes each new segment whole (16 MiB, zero-filled) before it writes to it, so
below that its next segment switch fails and the server PANICs; Kafka appends its segments and writes 10 MiB index
files, so under 16 MiB it is a matter of seconds in a burst. A percentage alone would be wrong both ways: 1 % of a
2 TB disk is 20 GB (not full), 1 % of a 64 MB test filesystem is 640 kB (already full for Postgres). Under
:data:`LOW_BELOW` (64 MiB, four WAL segments) the directory is ``low``: a warning, nothing refuses yet.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from polydemo.config import Settings

MiB = 1024 * 1024
FULL_BELOW = 16 * MiB
LOW_BELOW = 64 * MiB

StatVfs = Callable[[str], os.statvfs_result]

# What each service keeps in its directory, as a line names it (a broker's data dir holds its log dir).
KINDS: dict[str, str] = {"kafka": "log dir"}


@dataclass(frozen=True)
class DiskUsage:
    service: str
    path: str  # the directory looked at (its nearest existing parent when it does not exist yet)
    free_bytes: int
    total_bytes: int
    state: str  # "ok", "low", "full"

    @property
    def full(self) -> bool:
        return self.state == "full"

    @property
    def what(self) -> str:
        """``kafka log dir``, ``postgres data dir``."""
        return f"{self.service} {KINDS.get(self.service.split('-')[0], 'data dir')}"

    def as_dict(self) -> dict:
        return {**asdict(self), "what": self.what}


def data_path(settings: Settings, service: str) -> Path:
    """The directory a service writes its data to: a broker's log dir, every other server's data dir."""
    base = settings.data_dir(service)
    return base / "log" if service.startswith("kafka") else base


def existing(path: Path) -> Path:
    """``path``, or its nearest parent that exists (a home before its first ``up``)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def state_of(free: int) -> str:
    if free < FULL_BELOW:
        return "full"
    return "low" if free < LOW_BELOW else "ok"


def usage(service: str, path: Path, statvfs: StatVfs = os.statvfs) -> DiskUsage | None:
    """One directory's free space (None when it cannot be read: a permission, a vanished mount)."""
    try:
        st = statvfs(str(path))
    except OSError:
        return None
    free, total = st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
    return DiskUsage(service, str(path), free, total, state_of(free))


def check(settings: Settings, services: Iterable[str], statvfs: StatVfs = os.statvfs) -> list[DiskUsage]:
    """Each service's data directory, in the order given (those that cannot be read are left out)."""
    out = []
    for name in services:
        found = usage(name, existing(data_path(settings, name)), statvfs)
        if found is not None:
            out.append(found)
    return out


def full(usages: Iterable[DiskUsage]) -> list[DiskUsage]:
    return [u for u in usages if u.full]


def human(n: int) -> str:
    """Bytes as ``0 B``, ``812.0 kB``, ``15.9 MB``, ``1.20 GB`` (binary units; ``status`` prints RSS so too)."""
    value = float(n)
    for unit in ("B", "kB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.2f} GB"


def fix(u: DiskUsage, running: bool) -> str:
    """The one thing to do: free space, then restart what stopped (`polydemo up` is idempotent, and restarts the
    Debezium task and the projectors too)."""
    if running:
        return f"free space on {u.path}; writes to {u.service} fail until then"
    return f"free space on {u.path}, then `polydemo up` (it restarts {u.service})"


ENOSPC_TEXT = "No space left on device"  # strerror(ENOSPC), as Postgres and the JVM both print it
WHY_MARKS = (ENOSPC_TEXT, "have failed")  # Kafka: "Shutdown broker because all log dirs in … have failed"


def ran_out(log_tail: str) -> str | None:
    """Why a stopped server stopped, when its log's last lines say it ran out of space: the last line saying so
    (Postgres' ``FATAL: could not write to file "pg_wal/xlogtemp…": No space left on device``, Kafka's ``Shutdown
    broker because all log dirs … have failed``); None when they do not mention ENOSPC."""
    lines = log_tail.splitlines()
    if not any(ENOSPC_TEXT in ln for ln in lines):
        return None
    said = [ln.strip() for ln in lines if any(m in ln for m in WHY_MARKS)]
    return said[-1][:200] if said else None


def stopped_line(service: str, why: str, u: DiskUsage | None) -> str:
    """``status``'s line for a server that stopped for want of space: what its log said and the one command."""
    room = f"; {human(u.free_bytes)} free now" if u is not None else ""
    then = "free space, then `polydemo up`" if u is not None and u.full else "`polydemo up` restarts it"
    return f"{service} stopped: it ran out of disk space (its log: {why}){room} · {then}"


def line(u: DiskUsage, running: bool = True) -> str:
    """One line: ``disk full: kafka log dir /h/data/kafka/log, 0 B free of 60.0 MB · free space on …``."""
    space = f"{human(u.free_bytes)} free of {human(u.total_bytes)}"
    return f"disk {u.state}: {u.what} {u.path}, {space} · {fix(u, running)}"


def parse_df(text: str) -> tuple[int, int] | None:
    """(total, available) bytes from ``df -Pk DIR``'s output (POSIX format: coreutils and busybox alike), None when
    it is not that (pure)."""
    lines = [ln.split() for ln in text.strip().splitlines()]
    if len(lines) < 2 or len(lines[-1]) < 6:
        return None
    try:
        total_kb, avail_kb = int(lines[-1][1]), int(lines[-1][3])
    except ValueError:
        return None
    return total_kb * 1024, avail_kb * 1024


def usage_of(service: str, where: str, total: int, free: int) -> DiskUsage:
    return DiskUsage(service, where, free, total, state_of(free))
