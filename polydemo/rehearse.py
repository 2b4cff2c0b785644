"""`polydemo rehearse`: the check a speaker runs in the hotel room before the talk.

``doctor``, then ``reset``, then every scenario the talk uses at full speed, then ``reset`` again, so
the stack ends in the state the talk starts from (seeded, converged). Each step is timed and its
verdict kept; any failure makes the rehearsal fail.

The steps are passed in (``doctor``, ``reset``, ``run``): the CLI gives the real ones (the doctor's
checks, ``polydemo.reset``, the scenario runner), tests/unit/test_rehearse.py gives stand-ins. This
module sits below the scenario layer, so it never imports it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from polydemo.errors import ExitStatus, PolydemoError

log = logging.getLogger("polydemo.rehearse")

# The built-ins in the order a rehearsal plays them: the one-operation stories first (quick, and they
# prove the pipeline), then the drills, and the tour last: the talk's own script, on the stack as the
# drills left it (a final reset follows anyway).
DEFAULT_ORDER: tuple[str, ...] = (
    "signup",
    "follow",
    "post",
    "consistency",
    "dual-write",
    "outbox",
    "kill-consumer",
    "load",
    "cdc-outage",
    "store-outage",
    "tour",
)


@dataclass
class Outcome:
    """What one step returned: its verdict and one line saying why (or what it did)."""

    ok: bool
    detail: str = ""


@dataclass
class Row:
    name: str  # "doctor", "reset", or the scenario's name
    kind: str  # "doctor" | "reset" | "scenario"
    status: str  # "passed" | "FAILED" | "skipped"
    seconds: float
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "passed"


@dataclass
class Rehearsal:
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.rows if r.status == "FAILED"]

    @property
    def exit_status(self) -> ExitStatus:
        return ExitStatus.OK if self.passed else ExitStatus.ERROR

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "seconds": round(self.seconds, 2),
            "steps": [{**asdict(r), "seconds": round(r.seconds, 2)} for r in self.rows],
            "scenarios_passed": sum(1 for r in self.rows if r.kind == "scenario" and r.ok),
            "scenarios": sum(1 for r in self.rows if r.kind == "scenario"),
        }


def plan(names: Sequence[str], available: Sequence[str]) -> list[str]:
    """The scenarios to play: ``names`` as given, or every built-in in :data:`DEFAULT_ORDER`
    (a built-in not listed there plays before ``tour``)."""
    if names:
        return list(names)
    known = [n for n in DEFAULT_ORDER if n in available]
    others = sorted(n for n in available if n not in DEFAULT_ORDER)
    if "tour" in known:
        known.remove("tour")
        return [*known, *others, "tour"]
    return [*known, *others]


def _call(step: Callable[[], Outcome]) -> Outcome:
    try:
        return step()
    except PolydemoError as exc:
        return Outcome(False, exc.message)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # broad: a step that breaks is a failed step; the rehearsal goes on to the next
        log.debug("rehearsal step raised", exc_info=True)
        return Outcome(False, f"{type(exc).__name__}: {str(exc).strip()[:200]}")


def rehearse(
    scenarios: Sequence[str],
    doctor: Callable[[], Outcome],
    reset: Callable[[], Outcome],
    run: Callable[[str], Outcome],
    on_row: Callable[[Row], None] = lambda row: None,
    clock: Callable[[], float] = time.monotonic,
) -> Rehearsal:
    """doctor → reset → each scenario → reset. A failed doctor or first reset skips the rest (nothing
    after them would mean anything); a failed scenario does not: the next one still plays, and the
    final reset always runs once the first one passed."""
    result = Rehearsal()
    t0 = clock()

    def step(name: str, kind: str, fn: Callable[[], Outcome]) -> Row:
        s0 = clock()
        out = _call(fn)
        row = Row(name, kind, "passed" if out.ok else "FAILED", clock() - s0, out.detail)
        result.rows.append(row)
        on_row(row)
        return row

    def skip(name: str, kind: str, why: str) -> None:
        row = Row(name, kind, "skipped", 0.0, why)
        result.rows.append(row)
        on_row(row)

    first = step("doctor", "doctor", doctor)
    if first.ok:
        first = step("reset", "reset", reset)
    if not first.ok:
        why = f"{first.name} failed"
        if first.kind == "doctor":
            skip("reset", "reset", why)
        for name in scenarios:
            skip(name, "scenario", why)
        skip("reset", "reset", why)
    else:
        for name in scenarios:
            step(name, "scenario", functools.partial(run, name))
        step("reset", "reset", reset)
    result.seconds = clock() - t0
    return result
