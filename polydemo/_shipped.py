"""What the wheel ships besides the Python code: the repository files polydemo reads at run time.

The files stay where they are in the repository (one copy, the source of truth). ``setup.py`` copies
them into ``polydemo/_data/`` of the built wheel at build time, keeping their repository paths, so a
relative path such as ``./database.sql`` in ``docker-compose.yml`` still points at its neighbour.
``polydemo.resources`` reads the checkout's files when polydemo runs from a checkout, the packaged
copies otherwise. ``tests/unit/test_resources.py`` checks that the copy equals the source.

Standard library only: ``setup.py`` loads this file by path, before polydemo is installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# The directory, inside the installed package, that holds the copies.
DATA_DIR = "_data"

# Repository-relative globs. Exact names where there is one file, so a stray file is never shipped.
SHIPPED: tuple[str, ...] = (
    "scenarios/*.yaml",
    "database.sql",
    "TimeScaleDB.sql",
    "posts.json",
    "docker-compose.yml",
    "docker-compose.cluster.yml",
    "stack/connect/polydemo-users.json",
    "stack/kafka/server.properties",
    "stack/kafka/connect-distributed.properties",
    "stack/kafka/log4j2.properties",
    "stack/kafka/pom.xml",
    "stack/neo4j/pom.xml",
    "stack/neo4j/src/main/java/dev/polydemo/*.java",
    "stack/mongo/secantusd.toml",
    "stack/mongo/requirements-secantusd.txt",
)


def shipped_files(root: Path) -> list[str]:
    """Every shipped file under ``root`` (a checkout), as sorted repository-relative POSIX paths."""
    out: set[str] = set()
    for pattern in SHIPPED:
        matches = [p for p in root.glob(pattern) if p.is_file()]
        if not matches:
            raise FileNotFoundError(f"{root / pattern}: nothing to ship (the repository is incomplete)")
        out.update(p.relative_to(root).as_posix() for p in matches)
    return sorted(out)


def copy_shipped(root: Path, dest: Path) -> list[str]:
    """Copy every shipped file from ``root`` to ``dest`` (keeping its relative path); return what was copied."""
    files = shipped_files(root)
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, target)
    return files
