"""The dashboard's sources: one per panel, each asking its gateway (``polydemo.stores``) for one frame's data.

A :class:`Source` has a ``name`` (the service whose health it decides, or ``feed``/``schemas``/``projectors``),
the ``label`` of the engine it found (the header shows it), the ``needs`` it waits for (the sources whose data
of the same frame it reads, through :meth:`Frame.upstream`), the ``gateways`` it uses (the collector closes a
gateway only when no source still blocked on it uses it), ``collect(frame)`` and ``close()`` (its own threads
and clients, never the gateways: the collector's; called also while a ``collect`` is blocked). ``collect`` may
raise: the collector (dashboard/collector.py) runs the sources concurrently, catches what they raise and shows
the service as down, and draws the frame at its deadline whether every source answered or not.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from datetime import datetime
from typing import Any, Protocol

SAMPLE = 5  # latest users, latest posts, most followed, cached profiles
TIMEOUT = 1.0  # seconds a frame waits for a store that answered in the previous frame
FIRST_TIMEOUT = 5.0  # the first frame also opens every connection


class Frame:
    """What a source gets for one frame: the deadline (``time.perf_counter()``) by which the frame is drawn, and
    the data its upstream sources return in the same frame."""

    def __init__(self, deadline: float, upstream: dict[str, tuple[cf.Future | None, bool]] | None = None):
        self.deadline = deadline
        self._upstream = upstream or {}  # name -> (its run, whether it is suspect: blocked or down last frame)

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.perf_counter())

    def upstream(self, name: str) -> Any | None:
        """The data source ``name`` returns this frame, waited for until the deadline (not at all when it is
        suspect: still blocked from an earlier frame, or down in the last one); None when it failed, is late,
        or does not run."""
        fut, suspect = self._upstream.get(name, (None, False))
        if fut is None:
            return None
        try:
            data, _, _ = fut.result(timeout=0.0 if suspect else self.remaining())
        except (cf.TimeoutError, cf.CancelledError):
            return None
        return data


class Source(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def label(self) -> str | None: ...

    @property
    def needs(self) -> tuple[str, ...]: ...

    @property
    def gateways(self) -> tuple[str, ...]: ...

    def collect(self, frame: Frame) -> Any: ...

    def close(self) -> None: ...


class BaseSource:
    """Defaults for a source: no label yet, no upstream, no gateway, nothing to close."""

    name = ""
    label: str | None = None
    needs: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()

    def close(self) -> None:
        return None


def short(exc: BaseException) -> str:
    """An error in one line of at most 160 characters: ``OperationalError: connection refused``. Its lines are
    joined: Neo4j's says why on its second ("Couldn't connect to …: / Failed to read … handshake")."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text[:160] or "down"


def iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else (str(value) if value is not None else None)


def default_label(service: str) -> str:
    try:
        from polydemo.runtime.services import SPECS

        return SPECS[service].engine
    except KeyError:  # a name that is not a service of ours: show it as it is
        return service
