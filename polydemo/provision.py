"""`polydemo setup`: install what the local stack needs, idempotently, with verified downloads.

Four components, each checked first and installed only when missing or out of date:

* **system packages** (apt): PostgreSQL 15, Redis, a JDK 17, Maven (no PostgreSQL extension). Only what is
  missing is installed; without apt-get the error names what to install instead.
* **Kafka jars**: Kafka 4.3.1 + Connect + the Debezium 3.7.0 plugin, from Maven Central (stack/kafka/pom.xml).
* **Neo4j jars**: Neo4j Community 5.26.30 embedded and the Bolt launcher, compiled here (stack/neo4j).
* **Mongo-wire server**: SecantusDB in its own venv (stack/mongo/requirements-secantusd.txt).

Downloads are verified: Maven runs with ``-C`` (``--strict-checksums``: a .sha1 that does not match fails
the build instead of warning), pip with ``--require-hashes`` against the sha256s in the requirements file.
A component is up to date when its output is there and its stamp (sha256 of its inputs, the same stamps
``scripts/setup.sh`` always wrote) matches, so a second run takes a few seconds.

Everything runs through :class:`Host` (commands, which, root): the tests swap it for a fake.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from polydemo import download, resources
from polydemo.config import Settings
from polydemo.errors import ExitStatus, PolydemoError

Progress = Callable[[str, str, str], None]  # (component, state, detail); states: checking, installing, done, failed


def _ignore(component: str, state: str, detail: str) -> None:
    pass


class SetupError(PolydemoError):
    exit_code = ExitStatus.INSTALL


@dataclass
class Result:
    component: str
    title: str
    state: str  # "ok" (already up to date), "installed", "missing" (--check), "failed"
    detail: str
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "component": self.component,
            "title": self.title,
            "state": self.state,
            "detail": self.detail,
            "seconds": round(self.seconds, 2),
        }


@dataclass
class Host:
    """The machine, as setup sees it. Tests replace it with a fake."""

    def which(self, name: str) -> str | None:
        return shutil.which(name)

    def exists(self, path: Path) -> bool:
        return path.exists()

    def is_root(self) -> bool:
        return os.geteuid() == 0

    def download(self, url: str, dest: Path) -> None:
        """HTTPS against the system's trust store (plus SSL_CERT_FILE / REQUESTS_CA_BUNDLE): polydemo/download.py."""
        download.download(url, dest)

    def run(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> int:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as fh:
            fh.write(f"\n$ {' '.join(argv)}\n".encode())
            fh.flush()
            return subprocess.run(
                argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}
            ).returncode


# ---------------------------------------------------------------- stamps


def stamp_key(paths: list[Path]) -> str:
    """sha256 of the inputs' bytes, concatenated in order (what setup.sh's ``cat … | sha256sum`` gave)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def stamp_dir(settings: Settings) -> Path:
    return settings.cache / "stamps"


def is_fresh(settings: Settings, name: str, key: str) -> bool:
    f = stamp_dir(settings) / name
    return f.is_file() and f.read_text().strip() == key


def write_stamp(settings: Settings, name: str, key: str) -> None:
    stamp_dir(settings).mkdir(parents=True, exist_ok=True)
    (stamp_dir(settings) / name).write_text(key + "\n")


def log_file(settings: Settings, component: str) -> Path:
    return settings.cache / "logs" / f"setup-{component}.log"


def _tail(path: Path, n: int = 6) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return "\n".join(lines[-n:])


# ---------------------------------------------------------------- components


@dataclass
class Component:
    name: str
    title: str
    # (up to date?, detail) without changing anything
    check: Callable[[Setup], tuple[bool, str]]
    install: Callable[[Setup], str]
    # counted while installing, for the progress display: (done, total or None)
    count: Callable[[Setup], tuple[int, int | None]] = lambda s: (0, None)
    unit: str = "jars"


# Debian package -> a file it installs that the stack needs (works without dpkg, and checks the real thing).
# No PostgreSQL extension is needed: Debezium decodes with pgoutput (built into PostgreSQL 10+), and the
# events table's daily partitions are made by polydemo itself (TimeScaleDB.sql: polydemo_events_premake), so
# wal2json and pg_partman, required until 2026-12-03, are not packages a laptop must find any more.
PG_MAJOR = "15"
APT_PACKAGES: dict[str, Callable[[Host], bool]] = {
    f"postgresql-{PG_MAJOR}": lambda h: h.exists(Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin/postgres")),
    "redis-server": lambda h: h.which("redis-server") is not None,
    "openjdk-17-jdk-headless": lambda h: h.which("javac") is not None,
    "maven": lambda h: h.which("mvn") is not None,
}
# What to install where there is no apt-get (docs/install.md says the same, per platform).
OTHER_PLATFORMS = {
    "fedora": "sudo dnf install -y postgresql-server redis java-17-openjdk-devel maven "
    "(then POLYDEMO_PG_BINDIR=/usr/bin)",
    "macos": "brew install postgresql@15 redis openjdk@17 maven (then POLYDEMO_PG_BINDIR=$(brew --prefix "
    "postgresql@15)/bin); the Mongo-wire server has Linux x86_64 wheels only, so on a Mac use `--runtime docker`",
}
NOT_DEBIAN_HINT = (
    "install PostgreSQL 15, Redis 7, a JDK 17 (javac) and Maven 3 with your package manager: "
    + "; ".join(f"{k}: {v}" for k, v in OTHER_PLATFORMS.items())
    + "; or use `--runtime docker`"
)


def missing_packages(host: Host) -> list[str]:
    return [pkg for pkg, present in APT_PACKAGES.items() if not present(host)]


def _apt_check(s: Setup) -> tuple[bool, str]:
    missing = missing_packages(s.host)
    return (not missing, "all present" if not missing else f"missing: {' '.join(missing)}")


def _apt_install(s: Setup) -> str:
    missing = missing_packages(s.host)
    if not missing:
        return "all present"
    cmd = "apt-get install -y --no-install-recommends " + " ".join(missing)
    if s.host.which("apt-get") is None:
        raise SetupError(
            f"system packages: missing {' '.join(missing)}, and there is no apt-get here", hint=NOT_DEBIAN_HINT
        )
    prefix: list[str] = []
    if not s.host.is_root():
        if s.host.which("sudo") is None:
            raise SetupError(
                f"system packages: missing {' '.join(missing)}; installing them needs root",
                hint=f"run as root: {cmd}, then `polydemo setup` again",
            )
        prefix = ["sudo", "-n"]
    log = log_file(s.settings, "apt")
    # RUNLEVEL=1: Debian's packages would start their own servers where an init system runs; polydemo
    # starts its own.
    env = {"DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
    for argv in (
        [*prefix, "apt-get", "update", "-qq"],
        [
            *prefix,
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "RUNLEVEL=1",
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            *missing,
        ],
    ):
        if s.host.run(argv, log, env) != 0:
            raise SetupError(
                f"system packages: `{' '.join(argv)}` failed",
                details=_tail(log),
                hint=f"see {log}; {cmd} by hand shows why (as root)",
            )
    still = missing_packages(s.host)
    if still:
        raise SetupError(f"system packages: {' '.join(still)} still missing after apt-get install", hint=f"see {log}")
    return f"installed {' '.join(missing)}"


def _maven(s: Setup) -> str:
    mvn = s.host.which("mvn")
    if mvn is None:
        raise SetupError(
            "Maven (mvn) is not installed",
            hint="apt-get install -y maven, or run `polydemo setup` as root so it installs it",
        )
    return mvn


def _stage(s: Setup, rels: list[str], into: Path) -> None:
    """Copy resource files (with their repository paths) into ``into``: Maven writes next to its pom, and the
    installed package may be read-only."""
    base = resources.require(rels[0]).parent
    shutil.rmtree(into, ignore_errors=True)
    for rel in rels:
        src = resources.require(rel)
        dest = into / src.relative_to(base)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)


# Kafka + Connect + Debezium
# The Debezium Connect plugin archive has no .sha1/.md5 on Maven Central (404 for every checksum file, checked
# 2026-12-01), so `mvn -C` rejects it ("no checksums available"). It is fetched here instead and checked against
# this sha256, taken from the archive the suite has run with (and equal to a fresh download from Central).
DEBEZIUM_VERSION = "3.7.0.Final"
DEBEZIUM_PLUGIN_URL = (
    "https://repo.maven.apache.org/maven2/io/debezium/debezium-connector-postgres/"
    f"{DEBEZIUM_VERSION}/debezium-connector-postgres-{DEBEZIUM_VERSION}-plugin.tar.gz"
)
DEBEZIUM_PLUGIN_SHA256 = "660673cbabd2f269da21409208ebd0f0d9977bd92e824fc9daa272f240e88e51"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _debezium_plugin(s: Setup, plugins: Path) -> None:
    archive = s.settings.cache / "downloads" / DEBEZIUM_PLUGIN_URL.rsplit("/", 1)[1]
    if not (archive.is_file() and file_sha256(archive) == DEBEZIUM_PLUGIN_SHA256):
        try:
            s.host.download(DEBEZIUM_PLUGIN_URL, archive)
        except download.DownloadError as exc:
            raise SetupError(f"Kafka jars: the Debezium plugin: {exc.message}", hint=exc.hint) from None
    got = file_sha256(archive)
    if got != DEBEZIUM_PLUGIN_SHA256:
        archive.unlink(missing_ok=True)
        raise SetupError(
            f"Kafka jars: the Debezium plugin's sha256 is {got}, expected {DEBEZIUM_PLUGIN_SHA256}",
            hint="the download was altered or truncated: run `polydemo setup` again; if it persists, "
            "do not use it and check your network path to Maven Central",
        )
    try:
        download.safe_extract(archive, plugins)
    except download.UnsafeArchiveError as exc:
        archive.unlink(missing_ok=True)
        raise SetupError(f"Kafka jars: {exc.message}", hint=exc.hint) from None


def kafka_inputs() -> list[Path]:
    return [resources.require(resources.KAFKA_POM)]


def _kafka_present(s: Setup) -> bool:
    libs = s.settings.cache / "kafka" / "libs"
    return libs.is_dir() and any(libs.glob("kafka_2.13-*.jar"))


def _stamped_check(s: Setup, name: str, present: bool, inputs: list[Path], where: Path) -> tuple[bool, str]:
    """Whether a component built from ``inputs`` is in place and its stamp matches them, with the line saying so."""
    fresh = present and is_fresh(s.settings, name, stamp_key(inputs))
    return fresh, (f"up to date in {where}" if fresh else f"out of date in {where}" if present else f"missing: {where}")


def _maven_build(s: Setup, name: str, poms: list[str], args: list[str], what: str, hint: str) -> None:
    """Stage ``poms`` (package resources) into the cache and run Maven on them (batch, quiet, strict checksums).

    One clear SetupError with the log's tail when Maven fails; the caller checks its own output after."""
    mvn = _maven(s)
    stage = s.settings.cache / "src" / name
    _stage(s, poms, stage)
    log = log_file(s.settings, name)
    rc = s.host.run([mvn, "-B", "-q", "-C", "-f", str(stage / "pom.xml"), *args], log)
    if rc != 0:
        raise SetupError(f"{what}: Maven failed (exit {rc})", details=_tail(log), hint=f"see {log}; {hint}")


def _kafka_check(s: Setup) -> tuple[bool, str]:
    return _stamped_check(s, "kafka", _kafka_present(s), kafka_inputs(), s.settings.cache / "kafka")


def _kafka_install(s: Setup) -> str:
    target = s.settings.cache / "kafka"
    shutil.rmtree(target, ignore_errors=True)
    # Only the jars through Maven (strict checksums); the plugin archive has none there (see above).
    hint = (
        "a checksum error means a corrupt download: remove it from ~/.m2/repository "
        "and retry; otherwise check that Maven Central (repo.maven.apache.org) is reachable"
    )
    args = [
        "dependency:copy-dependencies@kafka-libs",
        f"-Dkafka.libs.dir={target / 'libs'}",
        f"-Dkafka.plugins.dir={target / 'plugins'}",
    ]
    _maven_build(s, "kafka", [resources.KAFKA_POM], args, "Kafka jars", hint)
    if not _kafka_present(s):
        raise SetupError("Kafka jars: Maven ran but left no Kafka jar", hint=f"see {log_file(s.settings, 'kafka')}")
    _debezium_plugin(s, target / "plugins")
    write_stamp(s.settings, "kafka", stamp_key(kafka_inputs()))
    return f"{_count_jars(target)} jars in {target}"


def _count_jars(d: Path) -> int:
    return sum(1 for _ in d.rglob("*.jar")) if d.is_dir() else 0


# Neo4j embedded + our launcher
def neo4j_sources() -> list[str]:
    src = resources.require(resources.NEO4J_SOURCES)
    return [f"{resources.NEO4J_SOURCES}/{p.name}" for p in sorted(src.glob("*.java"))]


def neo4j_inputs() -> list[Path]:
    return [resources.require(resources.NEO4J_POM), *(resources.require(r) for r in neo4j_sources())]


def _neo4j_launcher(s: Setup) -> Path:
    return s.settings.cache / "neo4j" / "lib" / "polydemo-neo4j.jar"


def _neo4j_check(s: Setup) -> tuple[bool, str]:
    return _stamped_check(s, "neo4j", _neo4j_launcher(s).is_file(), neo4j_inputs(), s.settings.cache / "neo4j")


def _neo4j_install(s: Setup) -> str:
    target = s.settings.cache / "neo4j"
    shutil.rmtree(target, ignore_errors=True)
    lib = target / "lib"
    hint = (
        "the launcher needs a JDK 17 (javac); a checksum error means a corrupt download: "
        "remove it from ~/.m2/repository and retry"
    )
    args = [
        "package",
        f"-Dpolydemo.libdir={lib}",
        f"-Dpolydemo.jardir={lib}",
        f"-Dpolydemo.builddir={target / 'build'}",
    ]
    _maven_build(s, "neo4j", [resources.NEO4J_POM, *neo4j_sources()], args, "Neo4j jars", hint)
    if not _neo4j_launcher(s).is_file():
        raise SetupError("Neo4j jars: Maven ran but left no launcher jar", hint=f"see {log_file(s.settings, 'neo4j')}")
    write_stamp(s.settings, "neo4j", stamp_key(neo4j_inputs()))
    return f"{_count_jars(lib)} jars in {lib}"


# The Mongo-wire server (SecantusDB), in its own venv (GPL: a separate process, never imported)
SECANTUS_PYTHONS = ((3, 11), (3, 12), (3, 13))  # the CPython versions it has wheels for


def mongo_venv(settings: Settings) -> Path:
    return settings.cache / "secantusdb" / "venv"


def _mongo_inputs() -> list[Path]:
    return [resources.require(resources.MONGO_REQUIREMENTS)]


def _mongo_check(s: Setup) -> tuple[bool, str]:
    server = mongo_venv(s.settings) / "bin" / "secantusd-py"
    return _stamped_check(s, "secantusdb", server.is_file(), _mongo_inputs(), mongo_venv(s.settings))


def _requirement_count() -> int:
    text = resources.read_text(resources.MONGO_REQUIREMENTS)
    return sum(1 for ln in text.splitlines() if ln and not ln[0].isspace() and not ln.startswith("#") and "==" in ln)


def _mongo_count(s: Setup) -> tuple[int, int | None]:
    site = list((mongo_venv(s.settings) / "lib").glob("python3*/site-packages"))
    done = len(list(site[0].glob("*.dist-info"))) - 1 if site else 0  # minus pip's own
    return max(done, 0), _requirement_count()


def _mongo_install(s: Setup) -> str:
    python = s.python
    venv = mongo_venv(s.settings)
    log = log_file(s.settings, "secantusdb")
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    if s.host.run([python, "-m", "venv", str(venv)], log) != 0:
        raise SetupError(
            f"Mongo-wire server: `{python} -m venv` failed",
            details=_tail(log),
            hint="apt-get install -y python3-venv (or set POLYDEMO_SETUP_PYTHON to a Python 3.11-3.13 that has venv)",
        )
    req = resources.require(resources.MONGO_REQUIREMENTS)
    rc = s.host.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--require-hashes",
            "--only-binary",
            ":all:",
            "-r",
            str(req),
        ],
        log,
    )
    if rc != 0 or not (venv / "bin" / "secantusd-py").is_file():
        shutil.rmtree(venv, ignore_errors=True)  # nothing half-installed is taken for done
        raise SetupError(
            f"Mongo-wire server: pip install failed (exit {rc})",
            details=_tail(log),
            hint=f"see {log}; 'THESE PACKAGES DO NOT MATCH THE HASHES' means a download was altered; "
            "SecantusDB has wheels for CPython 3.11-3.13 on x86_64 Linux only "
            "(POLYDEMO_SETUP_PYTHON chooses the Python)",
        )
    write_stamp(s.settings, "secantusdb", stamp_key(_mongo_inputs()))
    return f"{_requirement_count()} packages in {venv}"


COMPONENTS: tuple[Component, ...] = (
    Component("apt", "system packages", _apt_check, _apt_install),
    Component(
        "kafka",
        "Kafka + Connect + Debezium jars",
        _kafka_check,
        _kafka_install,
        lambda s: (_count_jars(s.settings.cache / "kafka"), None),
    ),
    Component(
        "neo4j",
        "Neo4j jars + launcher",
        _neo4j_check,
        _neo4j_install,
        lambda s: (_count_jars(s.settings.cache / "neo4j" / "lib"), None),
    ),
    Component("secantusdb", "Mongo-wire server (SecantusDB)", _mongo_check, _mongo_install, _mongo_count, "packages"),
)
NAMES = tuple(c.name for c in COMPONENTS)


def unexpected(c: Component, exc: BaseException, log: Path) -> SetupError:
    """An error no step foresaw (a bug, a full disk, a Python too old for a call) as one SetupError that names
    the component and its log; ``polydemo --traceback setup`` shows where it came from."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return SetupError(
        f"{c.title}: {type(exc).__name__}: {first}" if first else f"{c.title}: {type(exc).__name__}",
        hint=f"its log is {log}; `polydemo --traceback setup {c.name}` shows the full traceback "
        "(please include it in a bug report)",
    )


def default_python(settings: Settings) -> str:
    """The interpreter for the SecantusDB venv: POLYDEMO_SETUP_PYTHON, else the one running polydemo."""
    return settings.setup_python or getattr(sys, "_base_executable", None) or sys.executable


@dataclass
class Setup:
    settings: Settings
    host: Host = field(default_factory=Host)
    python: str = ""  # "": default_python(settings)
    components: tuple[Component, ...] = COMPONENTS

    def __post_init__(self) -> None:
        if not self.python:
            self.python = default_python(self.settings)

    def select(self, names: list[str] | None) -> list[Component]:
        if not names:
            return list(self.components)
        unknown = [n for n in names if n not in {c.name for c in self.components}]
        if unknown:
            raise SetupError(
                f"unknown set-up component {unknown[0]!r}",
                hint=f"components: {', '.join(c.name for c in self.components)}",
            )
        return [c for c in self.components if c.name in names]

    def check(self, names: list[str] | None = None) -> list[Result]:
        out = []
        for c in self.select(names):
            ok, detail = c.check(self)
            out.append(Result(c.name, c.title, "ok" if ok else "missing", detail))
        return out

    def run(self, names: list[str] | None = None, progress: Progress = _ignore) -> list[Result]:
        """Install what is missing, in order (Maven needs the JDK and mvn from apt). Stops at the first
        failure with a :class:`SetupError` that names the component and the fix."""
        out = []
        for c in self.select(names):
            t0 = time.monotonic()
            progress(c.name, "checking", "")
            ok, detail = c.check(self)
            if ok:
                out.append(Result(c.name, c.title, "ok", detail, time.monotonic() - t0))
                progress(c.name, "done", detail)
                continue
            progress(c.name, "installing", f"({detail})")
            stop = threading.Event()
            ticker = threading.Thread(target=self._tick, args=(c, progress, stop, t0), daemon=True)
            ticker.start()
            try:
                detail = c.install(self)
            except SetupError as exc:
                progress(c.name, "failed", exc.message)
                raise
            except Exception as exc:  # broad: re-raised as a SetupError naming the component and its log
                err = unexpected(c, exc, log_file(self.settings, c.name))
                progress(c.name, "failed", err.message)
                raise err from exc
            finally:
                stop.set()
                ticker.join()
            out.append(Result(c.name, c.title, "installed", detail, time.monotonic() - t0))
            progress(c.name, "done", detail)
        return out

    def _tick(self, c: Component, progress: Progress, stop: threading.Event, t0: float) -> None:
        while not stop.wait(0.5):
            try:
                done, total = c.count(self)
            except OSError:  # the directory being counted changes under the count: the next tick counts again
                continue
            if done:
                progress(c.name, "installing", f"{done}/{total} {c.unit}" if total else f"{done} {c.unit} so far")
