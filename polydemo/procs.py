"""OS process helpers: start detached, pid files, liveness, graceful stop, ports, RSS.

A pid file holds ``<pid> <create_time>`` so a recycled pid is never mistaken for ours,
and we only ever signal processes we started.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class PidRecord:
    pid: int
    create_time: float


def write_pid(path: Path, pid: int) -> PidRecord:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        ctime = psutil.Process(pid).create_time()
    except psutil.Error:
        ctime = 0.0
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{pid} {ctime:.3f}\n")
    tmp.replace(path)
    return PidRecord(pid, ctime)


def read_pid(path: Path) -> PidRecord | None:
    try:
        parts = path.read_text().split()
        return PidRecord(int(parts[0]), float(parts[1]) if len(parts) > 1 else 0.0)
    except (OSError, ValueError, IndexError):
        return None


def process_of(record: PidRecord | None) -> psutil.Process | None:
    """The live process behind a pid record, or None if it is gone or the pid was reused."""
    if record is None:
        return None
    try:
        proc = psutil.Process(record.pid)
        if record.create_time and abs(proc.create_time() - record.create_time) > 1.0:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except psutil.Error:
        return None


def alive(path: Path) -> psutil.Process | None:
    return process_of(read_pid(path))


def spawn(
    argv: list[str],
    log_file: Path,
    pid_file: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> PidRecord:
    """Start ``argv`` in its own session (so it has its own process group), stdout+stderr to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with open(log_file, "ab", buffering=0) as log:
        log.write(f"\n--- polydemo start {time.strftime('%Y-%m-%d %H:%M:%S')}: {argv[0]}\n".encode())
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=str(cwd) if cwd else None,
            start_new_session=True,
            user=user,
            group=user,
            close_fds=True,
        )
    return write_pid(pid_file, proc.pid)


def descendants(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except psutil.Error:
        return []


def stop(
    pid_file: Path,
    sig: int = signal.SIGTERM,
    timeout: float = 20.0,
    with_descendants: bool = True,
) -> str:
    """Stop the process behind ``pid_file`` and its descendants.

    Sends ``sig`` to the main process, waits up to ``timeout`` seconds, then SIGKILLs
    the process and every descendant still alive. Returns "stopped", "killed" or "not running".
    ``with_descendants=False``: only the process itself (the web gateway, whose children are projectors it started from
    the page: services of the stack in their own right, which outlive it).
    """
    proc = alive(pid_file)
    if proc is None:
        pid_file.unlink(missing_ok=True)
        return "not running"
    family = [proc, *descendants(proc)] if with_descendants else [proc]
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.send_signal(sig)
    _gone, still = psutil.wait_procs(family, timeout=timeout)
    outcome = "stopped"
    if still:
        outcome = "killed"
        for p in still:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(still, timeout=5)
    # Reap if it is our direct child (avoids a zombie in long-lived test processes).
    with contextlib.suppress(OSError):  # not our child (ChildProcessError), or reaped already: nothing to reap
        os.waitpid(proc.pid, os.WNOHANG)
    pid_file.unlink(missing_ok=True)
    return outcome


def kill9(pid_file: Path) -> bool:
    """SIGKILL the process behind ``pid_file`` (an ungraceful crash, for drills). Keeps the pid file."""
    proc = alive(pid_file)
    if proc is None:
        return False
    proc.send_signal(signal.SIGKILL)
    with contextlib.suppress(psutil.Error):
        proc.wait(10)
    return True


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing listens on host:port (we try to bind it, with SO_REUSEADDR like servers do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def port_owner(port: int) -> str | None:
    """A short description of the process listening on ``port``, when we can see it."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                try:
                    return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                except psutil.Error:
                    return f"pid {conn.pid}"
    except (psutil.Error, PermissionError):
        return None
    return None


def port_clients(port: int) -> list[str]:
    """The processes whose *client* connections (not listeners) are bound to local port ``port``: one of them got it
    as its ephemeral port. It happens to a server's port inside the kernel's ephemeral range (Linux: 32768-60999)
    while the server is down: a client retrying ``127.0.0.1:port`` may be given ``port`` itself and connect to
    itself (a TCP self-connection), and the server cannot bind its port until that client lets go."""
    found: list[str] = []
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status != psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                name = ""
                with contextlib.suppress(psutil.Error):
                    name = f" ({psutil.Process(conn.pid).name()})" if conn.pid else ""
                found.append(f"pid {conn.pid}{name}" if conn.pid else "a closed socket")
    except (psutil.Error, PermissionError):
        return []
    return sorted(set(found))


def ephemeral_range() -> tuple[int, int] | None:
    """The kernel's ephemeral port range (net.ipv4.ip_local_port_range), None where it cannot be read."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return None


def tree_rss(proc: psutil.Process) -> int:
    """Resident memory of a process and its descendants, in bytes."""
    total = 0
    for p in [proc, *descendants(proc)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def run_to_its_death(target, args: tuple, name: str, timeout: float = 60.0) -> int:
    """Run ``target(*args)`` in a child process that is meant to die (an injected crash), so the crash does
    not take the caller with it; returns the child's exit status (-1 when it has none).

    A ``spawn`` child, not a fork: the caller may have threads (the dashboard, client libraries)."""
    import multiprocessing

    from polydemo.errors import PolydemoError

    child = multiprocessing.get_context("spawn").Process(target=target, args=args, name=name)
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join(5)
        raise PolydemoError(f"the {name} writer did not finish in {timeout:.0f}s", hint="see `polydemo status`")
    return child.exitcode if child.exitcode is not None else -1
