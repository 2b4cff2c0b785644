"""Where polydemo finds the files it reads at run time: one lookup that every caller uses.

* **From a checkout** (an editable install, ``make setup``): the repository's own files, where they are.
* **From a wheel** (``pip``/``pipx``/``uv tool install``): the copies ``setup.py`` put into
  ``polydemo/_data/`` at build time, found with :mod:`importlib.resources`.
* ``POLYDEMO_RESOURCES=DIR`` reads them from ``DIR`` instead (same layout as the repository). It is the
  seam the tests use to point polydemo at an incomplete set, and a way to try edited configs.

Paths are repository-relative POSIX paths (``"stack/kafka/server.properties"``), the same in all three.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources as _ir
from pathlib import Path

from polydemo._shipped import DATA_DIR, SHIPPED
from polydemo.errors import ExitStatus, PolydemoError

PACKAGE_DIR = Path(__file__).resolve().parent
USERS_JSON = PACKAGE_DIR / "data" / "users.json"
CHECKOUT_DIR = PACKAGE_DIR.parent

# What polydemo reads, by the name doctor shows. Each is a shipped path (tests/unit/test_resources.py).
SCENARIOS = "scenarios"
DATABASE_SQL = "database.sql"
TIMESERIES_SQL = "TimeScaleDB.sql"
POSTS_JSON = "posts.json"
COMPOSE = "docker-compose.yml"
COMPOSE_CLUSTER = "docker-compose.cluster.yml"
CONNECTOR = "stack/connect/polydemo-users.json"
KAFKA_SERVER = "stack/kafka/server.properties"
CONNECT_WORKER = "stack/kafka/connect-distributed.properties"
KAFKA_LOG4J = "stack/kafka/log4j2.properties"
KAFKA_POM = "stack/kafka/pom.xml"
NEO4J_POM = "stack/neo4j/pom.xml"
NEO4J_SOURCES = "stack/neo4j/src/main/java/dev/polydemo"
MONGO_CONFIG = "stack/mongo/secantusd.toml"
MONGO_REQUIREMENTS = "stack/mongo/requirements-secantusd.txt"

FILES = (
    DATABASE_SQL,
    TIMESERIES_SQL,
    POSTS_JSON,
    COMPOSE,
    COMPOSE_CLUSTER,
    CONNECTOR,
    KAFKA_SERVER,
    CONNECT_WORKER,
    KAFKA_LOG4J,
    KAFKA_POM,
    NEO4J_POM,
    MONGO_CONFIG,
    MONGO_REQUIREMENTS,
)
# Directories and the glob that must match at least one file in each.
DIRS = {SCENARIOS: "*.yaml", NEO4J_SOURCES: "*.java"}


class ResourceMissing(PolydemoError):
    exit_code = ExitStatus.INSTALL


@dataclass(frozen=True)
class Root:
    path: Path
    kind: str  # "checkout", "package" or "POLYDEMO_RESOURCES"

    def describe(self) -> str:
        what = {
            "checkout": "the source checkout",
            "package": "the installed package data",
            "POLYDEMO_RESOURCES": "POLYDEMO_RESOURCES",
        }[self.kind]
        return f"{what} ({self.path})"


def is_checkout() -> bool:
    """True when this polydemo is imported from a source checkout (not an installed wheel)."""
    return (
        (CHECKOUT_DIR / "pyproject.toml").is_file()
        and (CHECKOUT_DIR / "setup.py").is_file()
        and (CHECKOUT_DIR / SCENARIOS).is_dir()
    )


def root() -> Root:
    # The one POLYDEMO_* read outside config.Settings, on purpose: where the package's own files are is a
    # property of the install, needed before (and by) Settings, and the same for every Settings in a process.
    explicit = os.environ.get("POLYDEMO_RESOURCES")
    if explicit:
        return Root(Path(explicit).expanduser().resolve(), "POLYDEMO_RESOURCES")
    packaged = _ir.files("polydemo") / DATA_DIR
    if packaged.is_dir():
        # A wheel installs into a real directory; a zipped install is not supported.
        return Root(Path(str(packaged)), "package")
    if is_checkout():
        return Root(CHECKOUT_DIR, "checkout")
    return Root(Path(str(packaged)), "package")


def path(rel: str) -> Path:
    """Where ``rel`` is (whether or not it exists: readers call :func:`require`)."""
    return root().path / rel


def _fix(r: Root, rel: str) -> str:
    if r.kind == "checkout":
        return f"restore it: git checkout -- {rel}"
    if r.kind == "POLYDEMO_RESOURCES":
        return f"put {rel} there, or unset POLYDEMO_RESOURCES"
    return (
        "the installed package is incomplete: reinstall it (pip install --force-reinstall polydemo, "
        "or pipx reinstall polydemo)"
    )


def require(rel: str) -> Path:
    """The path of ``rel``; :class:`ResourceMissing` (naming the file and where it looked) if it is not there."""
    r = root()
    p = r.path / rel
    glob = DIRS.get(rel)
    ok = (p.is_dir() and any(p.glob(glob))) if glob else p.is_file()
    if not ok:
        raise ResourceMissing(f"polydemo's {rel} is missing: looked in {r.describe()}", hint=_fix(r, rel))
    return p


def read_text(rel: str) -> str:
    return require(rel).read_text()


@dataclass
class Found:
    name: str
    path: Path
    ok: bool
    detail: str
    fix: str


def inventory() -> list[Found]:
    """Every resource polydemo needs, found or not (for doctor)."""
    r = root()
    out = []
    for rel in (*DIRS, *FILES):
        p = r.path / rel
        glob = DIRS.get(rel)
        if glob:
            n = len(list(p.glob(glob))) if p.is_dir() else 0
            out.append(
                Found(
                    rel,
                    p,
                    n > 0,
                    f"{n} {glob} in {p}" if n else f"missing: no {glob} in {p}",
                    "" if n else _fix(r, rel),
                )
            )
        else:
            ok = p.is_file()
            out.append(Found(rel, p, ok, str(p) if ok else f"missing: {p}", "" if ok else _fix(r, rel)))
    # The sample users live in the package itself (package data of polydemo, not a repository file).
    ok = USERS_JSON.is_file()
    out.append(
        Found(
            "polydemo/data/users.json",
            USERS_JSON,
            ok,
            str(USERS_JSON) if ok else f"missing: {USERS_JSON}",
            "" if ok else _fix(Root(PACKAGE_DIR, "package"), "polydemo/data/users.json"),
        )
    )
    return out


__all__ = ["SHIPPED", "ResourceMissing", "Root", "inventory", "is_checkout", "path", "read_text", "require", "root"]
