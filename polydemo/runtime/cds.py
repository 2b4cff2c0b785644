"""Class-data-sharing archives for the stack's JVMs (Neo4j, Kafka, Connect, Kafka's storage format).

A JVM spends most of its start-up on 2 cores loading, parsing and verifying classes: Neo4j ~20,000 of them.
Java 17 can write the classes a run loaded to a file at exit (``-XX:ArchiveClassesAtExit``, a *dynamic*
archive) and map that file at the next start (``-XX:SharedArchiveFile``); measured alone here, Neo4j
5.1 s -> 2.9 s to healthy, Kafka 2.5 -> 1.75 s, Connect 2.6 -> 1.4 s (docs/performance-history.md).

The life of an archive:

1. A JVM starts with no archive for its key: it gets ``-XX:ArchiveClassesAtExit=<final>.<token>.pending``,
   and :func:`plan` records that path in ``run/<service>.cds``.
2. It stops cleanly (``down``, a scenario's stop): the JVM wrote the archive before it exited, so
   :func:`settle` renames the pending file to its final name (an atomic rename; a JVM still mapping an
   older archive keeps its mapping). If it was SIGKILLed or crashed, the pending file may be cut short,
   and mapping a short archive could crash the next JVM: it is deleted, never used.
3. Every later start with the same key maps the archive.

The key is a hash of what the archive depends on: the java binary, the JVM options (not the ``-D`` system
properties), the main class and every jar on the class path (name, size, mtime). A new jar, JDK or flag makes
a new key, so an archive is never used against classes it was not made from (and the JVM itself checks
again, falling back to no archive with a warning). Archives live in the cache (``$POLYDEMO_CACHE/cds``),
shared by every home and checkout;
``POLYDEMO_CLASS_ARCHIVES=0`` turns them off (the bench prints both).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

# The dump at exit warns about every class it cannot keep (signed jars, pre-Java 6 class files):
# thousands of lines in a service's log. Errors still show.
QUIET_DUMP = "-Xlog:cds*=error"


@dataclass(frozen=True)
class Plan:
    """What one JVM start does about its archive."""

    flags: list[str]
    final: Path
    pending: Path | None  # set when this run writes the archive at exit


def split_jvm(argv: list[str]) -> tuple[list[str], list[str], str | None]:
    """(JVM options, class path entries, main class) of ``java [options] [-cp CP] Main args...``."""
    options: list[str] = []
    classpath: list[str] = []
    it = iter(argv[1:])
    for token in it:
        if token in ("-cp", "-classpath", "--class-path"):
            classpath = next(it, "").split(os.pathsep)
        elif token.startswith("-"):
            options.append(token)
        else:
            return options, classpath, token
    return options, classpath, None


def _jar_fingerprint(classpath: list[str]) -> list[str]:
    out = []
    for entry in classpath:
        paths = sorted(glob.glob(os.path.join(entry[:-1], "*.jar"))) if entry.endswith("*") else [entry]
        for p in paths:
            try:
                st = os.stat(p)
            except OSError:
                out.append(f"{p}:missing")
                continue
            out.append(f"{p}:{st.st_size}:{st.st_mtime_ns}")
    return out


def _java_fingerprint(java: str) -> str:
    try:
        real = os.path.realpath(java)
        st = os.stat(real)
        return f"{real}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return java


def archive_key(argv: list[str]) -> tuple[str, str]:
    """(name, key) for a JVM command line: name from the main class, key a hash of what the archive holds."""
    options, classpath, main = split_jvm(argv)
    # System properties (-D) are left out: the JVM does not check them against an archive, and one names the
    # checkout's log4j file, so two checkouts of polydemo would otherwise replace each other's archives.
    jvm_options = [o for o in options if not o.startswith("-D")]
    h = hashlib.sha256()
    for part in (
        _java_fingerprint(argv[0]),
        *jvm_options,
        "--cp--",
        *classpath,
        *_jar_fingerprint(classpath),
        main or "",
    ):
        h.update(part.encode())
        h.update(b"\0")
    name = (main or "java").rsplit(".", 1)[-1].lower()
    return name, h.hexdigest()[:16]


def plan(archive_dir: Path, argv: list[str], token: str | None = None) -> Plan:
    name, key = archive_key(argv)
    final = archive_dir / f"{name}-{key}.jsa"
    if final.is_file():
        return Plan(flags=[f"-XX:SharedArchiveFile={final}"], final=final, pending=None)
    pending = final.with_name(f"{final.name}.{token or secrets.token_hex(4)}.pending")
    return Plan(flags=[f"-XX:ArchiveClassesAtExit={pending}", QUIET_DUMP], final=final, pending=pending)


def apply(archive_dir: Path, argv: list[str]) -> tuple[list[str], Plan]:
    """``argv`` with its archive's flags, and the plan to :func:`settle_plan` (or :func:`record`) after."""
    archive_dir.mkdir(parents=True, exist_ok=True)
    p = plan(archive_dir, argv)
    return with_flags(argv, p.flags), p


def with_flags(argv: list[str], flags: list[str]) -> list[str]:
    """The command line with ``flags`` right after the java binary (before any other option)."""
    return [argv[0], *flags, *argv[1:]]


def record(record_file: Path, p: Plan) -> None:
    """Remember a pending archive for :func:`settle` (nothing to remember when the archive exists)."""
    if p.pending is None:
        record_file.unlink(missing_ok=True)
        return
    record_file.parent.mkdir(parents=True, exist_ok=True)
    record_file.write_text(json.dumps({"pending": str(p.pending), "final": str(p.final)}))


def settle(record_file: Path, clean: bool) -> Path | None:
    """After the JVM of ``record_file`` ended: keep its archive if it exited cleanly, else delete it."""
    try:
        data = json.loads(record_file.read_text())
    except (OSError, ValueError):
        return None
    record_file.unlink(missing_ok=True)
    return settle_plan(Plan(flags=[], final=Path(data["final"]), pending=Path(data["pending"])), clean)


def settle_plan(p: Plan, clean: bool) -> Path | None:
    """Keep ``p``'s pending archive (the JVM exited cleanly) or delete it. Returns the archive kept, if any;
    older archives of the same name (another key) are removed then."""
    pending, final = p.pending, p.final
    if pending is None:
        return None
    if not clean or not pending.is_file() or pending.stat().st_size == 0:
        pending.unlink(missing_ok=True)
        return None
    os.replace(pending, final)
    prefix = final.name.split("-", 1)[0] + "-"
    for old in final.parent.glob(f"{prefix}*.jsa"):
        if old != final:
            with contextlib.suppress(OSError):
                old.unlink()
    return final
