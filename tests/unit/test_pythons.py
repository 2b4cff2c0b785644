"""The supported Pythons are said once and agree (issue 24): pyproject's classifiers and requires-python, the
Mongo-wire server's wheels (provision.SECANTUS_PYTHONS), and the lock compiled for the oldest of them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from polydemo import provision

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def classified() -> set[tuple[int, int]]:
    out = set()
    for c in PROJECT["classifiers"]:
        m = re.fullmatch(r"Programming Language :: Python :: 3\.(\d+)", c)
        if m:
            out.add((3, int(m.group(1))))
    return out


def test_the_classifiers_are_the_pythons_setup_can_serve():
    assert classified() == set(provision.SECANTUS_PYTHONS)


def test_requires_python_starts_at_the_oldest_classified():
    oldest = min(classified())
    assert PROJECT["requires-python"] == f">={oldest[0]}.{oldest[1]}"


def test_the_lock_holds_what_only_debian_12s_python_needs():
    """redis-py needs async-timeout below 3.11.3 (Debian 12 has 3.11.2): a lock compiled on a newer 3.11
    left it out and `--require-hashes` refused to install on the distribution's Python."""
    lock = (ROOT / "requirements.lock").read_text()
    assert re.search(r"^async-timeout==", lock, re.M), "compile the lock on /usr/bin/python3 (make lock)"
