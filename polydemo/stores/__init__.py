"""One module per store, each with the same face: ``connect``, ``health``, ``seed``, ``snapshot``.

``health(settings)`` speaks the store's own protocol and returns a :class:`Health`;
it never raises, so a status table or a dashboard frame can always be drawn.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Health:
    ok: bool
    detail: str = ""
    version: str | None = None

    @classmethod
    def down(cls, exc: BaseException | str) -> "Health":
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        return cls(False, text.strip().splitlines()[0][:200] if text.strip() else "down")


# Service name -> the store module that probes it (imported on use: each pulls in a client library).
_MODULES = {"postgres": "postgres", "timeseries": "timeseries", "redis": "cache", "mongo": "mongo",
            "neo4j": "graph", "kafka": "kafka", "connect": "connect"}


def health_of(service: str, settings) -> Health:
    """The store's own-protocol health check for one service (both runtimes use this)."""
    import importlib

    return importlib.import_module(f"polydemo.stores.{_MODULES[service]}").health(settings)
