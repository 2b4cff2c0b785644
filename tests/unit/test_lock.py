"""requirements.lock agrees with pyproject.toml: every direct pin, the dev extras and the build backend, hashed."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text()
    return {norm(m.group(1)): m.group(2) for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M)}


def test_every_pyproject_pin_is_in_the_lock_at_its_version():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    direct = [
        *data["project"]["dependencies"],
        *data["project"]["optional-dependencies"]["dev"],
        *data["build-system"]["requires"],
    ]
    lock = locked()
    stale = []
    for spec in direct:
        name, version = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", spec).groups()
        if lock.get(norm(name)) != version:
            stale.append(f"{spec} (lock: {lock.get(norm(name))})")
    assert not stale, f"requirements.lock is stale, run `make lock`: {stale}"


def test_every_locked_package_is_exact_and_hashed():
    text = (ROOT / "requirements.lock").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 3)[3])
    assert len(entries) == len(locked()) >= 40
    for e in entries:
        assert "==" in e.splitlines()[0] and "--hash=sha256:" in e, e[:80]
