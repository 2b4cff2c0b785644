"""The Compose project's names and files, and Compose's output read: pure functions (unit-tested).

Nothing here runs a command or talks to an engine: :mod:`.compose` runs ``docker compose``, and these read
what it prints (``ps --format json``, ``version``, the progress lines of ``up`` and ``pull``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from polydemo import resources
from polydemo.config import SERVICES
from polydemo.runtime.base import CLUSTER_BROKERS, ProgressFn

COMPOSE_FILE = resources.path(resources.COMPOSE)
# Kafka cluster mode (`up --kafka-brokers 3`): applied after docker-compose.yml (its header says why an
# override file and not a profile). Brokers 2 and 3 are the services kafka-2 and kafka-3.
CLUSTER_FILE = resources.path(resources.COMPOSE_CLUSTER)
PROJECT = "polydemo"
# Every service name a container of the project can have (the parsers of Compose's output know them all).
KNOWN_SERVICES: tuple[str, ...] = (*SERVICES, *CLUSTER_BROKERS)

LineFn = Callable[[str], None]


@dataclass
class ComposeResult:
    returncode: int
    output: str
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def compose_services(*paths: Path) -> dict[str, dict]:
    """Service -> its merged keys across compose files, later files winning (as ``docker compose -f a -f b``
    merges the scalar keys ``image`` and ``pull_policy``)."""
    merged: dict[str, dict] = {}
    for path in paths or (COMPOSE_FILE,):
        doc = yaml.safe_load(Path(path).read_text()) or {}
        for name, svc in (doc.get("services") or {}).items():
            merged.setdefault(name, {}).update(svc or {})
    return merged


def compose_images(*paths: Path) -> dict[str, str]:
    """Service -> image reference, as docker-compose.yml (and any override file after it) pins them."""
    return {name: svc["image"] for name, svc in compose_services(*paths).items() if "image" in svc}


def parse_ps_json(text: str) -> list[dict]:
    """``docker compose ps --format json``: a JSON array before Compose 2.21, one object per line since."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        rows = json.loads(text)
        return [r for r in rows if isinstance(r, dict)]
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # Compose interleaves progress text with its JSON lines: skip what is not one
    return rows


def compose_version(text: str) -> tuple[int, int, int] | None:
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def _container_name_re(project: str) -> re.Pattern[str]:
    """``<project>-<service>-<n>`` for every known service; ``polydemo-kafka-2-1`` is kafka-2, not kafka
    (the lookahead refuses a replica number that is followed by another one)."""
    names = "|".join(re.escape(n) for n in sorted(KNOWN_SERVICES, key=len, reverse=True))
    return re.compile(rf"\b{re.escape(project)}[-_]({names})[-_]\d+\b(?![-_]\d)")


def service_of_container(name: str, project: str = PROJECT) -> str | None:
    """``polydemo-kafka-1`` (or ``polydemo_kafka_1``) -> ``kafka``; ``polydemo-kafka-2-1`` -> ``kafka-2``."""
    m = _container_name_re(project).search(name)
    return m.group(1) if m else None


def _services_in(text: str, project: str = PROJECT) -> list[str]:
    found = []
    for m in _container_name_re(project).finditer(text):
        name = m.group(1)
        if name not in found:
            found.append(name)
    return found


def _failed_services(text: str, project: str = PROJECT) -> list[str]:
    """Services named on the lines of Compose's output that report a failure (not the ones that went well)."""
    bad = "\n".join(
        ln for ln in text.splitlines() if re.search(r"error|unhealthy|exited|failed|timeout|timed out", ln, re.I)
    )
    return _services_in(bad, project)


def _last_lines(text: str, n: int = 12) -> str:
    lines = [ln.rstrip() for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-n:])


def _error_line(text: str) -> str:
    """The most telling line of Compose's output: the last one that says error, else the last one."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for line in reversed(lines):
        if re.search(r"\berror\b|failed|denied|unhealthy|not found", line, re.I):
            return line[:240]
    return lines[-1][:240] if lines else "no output"


def _started_seconds(started_at: str | None) -> float | None:
    if not started_at or started_at.startswith("0001-"):
        return None
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?", started_at)
    if not m:
        return None
    frac = (m.group(2) or "")[:7]
    tz = m.group(3) or "Z"
    stamp = f"{m.group(1)}{frac}{'+00:00' if tz == 'Z' else tz}"
    try:
        return max(0.0, time.time() - datetime.fromisoformat(stamp).astimezone(UTC).timestamp())
    except ValueError:
        return None


# ---------------------------------------------------------------- progress from Compose's plain output

_CONTAINER_EVENT = re.compile(
    r"Container\s+(\S+)\s+(Creating|Created|Recreate|Recreated|Starting|Started|Waiting|"
    r"Healthy|Running|Stopping|Stopped|Error)\b"
)


def _compose_progress(progress: ProgressFn, project: str) -> LineFn:
    states = {
        "Creating": "creating container",
        "Created": "container created",
        "Recreate": "recreating container",
        "Recreated": "container recreated",
        "Starting": "starting container",
        "Started": "container started",
        "Waiting": "waiting for the healthcheck",
        "Running": "container running",
    }

    def on_line(line: str) -> None:
        m = _CONTAINER_EVENT.search(line)
        if not m:
            return
        svc = service_of_container(m.group(1), project)
        if svc is None or m.group(2) in ("Error", "Healthy", "Stopping", "Stopped"):
            return  # failures and the final states are reported by up() itself
        progress(svc, "waiting" if m.group(2) == "Waiting" else "starting", states[m.group(2)])

    return on_line


def _pull_progress(progress: ProgressFn, services: list[str]) -> LineFn:
    def on_line(line: str) -> None:
        m = re.match(r"\s*(\S+)\s+(Pulling|Pulled)\b", line)
        if m and m.group(1) in services:
            progress(m.group(1), "starting", "image pulled" if m.group(2) == "Pulled" else "pulling image")

    return on_line
