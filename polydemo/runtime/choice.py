"""Which runtime a command uses, and why: pure logic, every collaborator passed in.

``--runtime auto`` must not surprise: a home created with the local runtime yesterday must not switch to
docker today because Docker Desktop happens to be running now. So the runtime a home was first brought up
with is remembered in ``<home>/runtime`` and wins over auto-detection; an explicit ``--runtime`` (or
``POLYDEMO_RUNTIME``) always wins, and the reason is said on every ``up``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RUNTIME_FILE = "runtime"
KNOWN = ("local", "docker")


@dataclass(frozen=True)
class Choice:
    name: str
    reason: str
    remembered: str | None = None  # what <home>/runtime says (None: nothing yet)

    @property
    def switches(self) -> bool:
        """True when the home was created with the other runtime (an explicit --runtime that differs)."""
        return self.remembered is not None and self.remembered != self.name


def choose(
    requested: str,
    remembered: str | None,
    has_local_data: bool,
    engine_answers: Callable[[], bool],
    engine_where: str = "the Docker socket",
) -> Choice:
    """The runtime to use.

    requested       --runtime / POLYDEMO_RUNTIME: "auto", "local" or "docker"
    remembered      the runtime recorded in the home (None when the home has none)
    has_local_data  the home holds data of the local runtime (homes from before the record existed)
    engine_answers  asked only when nothing else decides (it may take up to a couple of seconds)
    """
    if requested in KNOWN:
        if remembered is not None and remembered != requested:
            return Choice(
                requested,
                f"--runtime {requested} was asked for (this home was created with the "
                f"{remembered} runtime; its {remembered} data is left as it is)",
                remembered,
            )
        return Choice(requested, f"--runtime {requested} was asked for", remembered)
    if remembered in KNOWN:
        return Choice(
            remembered,
            f"this home was created with the {remembered} runtime "
            f"(--runtime {'local' if remembered == 'docker' else 'docker'} to use the other)",
            remembered,
        )
    if has_local_data:
        return Choice("local", "this home already holds local-runtime data (--runtime docker to use Docker)")
    if engine_answers():
        return Choice(
            "docker",
            f"auto: a Docker engine answers at {engine_where} (--runtime local to run the servers as processes)",
        )
    return Choice("local", "auto: no Docker engine answers, so the servers run as local processes")


def read_remembered(home: Path) -> str | None:
    """The runtime recorded in ``home``; None when there is none (or it is not one polydemo knows)."""
    try:
        value = (home / RUNTIME_FILE).read_text().strip()
    except OSError:
        return None
    return value if value in KNOWN else None


def remember(home: Path, name: str) -> bool:
    """Record ``name`` as the home's runtime if the home has none yet. Returns True when it wrote it."""
    if name not in KNOWN or read_remembered(home) is not None:
        return False
    home.mkdir(parents=True, exist_ok=True)
    (home / RUNTIME_FILE).write_text(name + "\n")
    return True


def has_local_data(home: Path) -> bool:
    """A home the local runtime has used: it made a data directory for at least one server."""
    data = home / "data"
    try:
        return data.is_dir() and any(p.is_dir() for p in data.iterdir())
    except OSError:
        return False
