"""The whole demo stack: servers (through a Runtime), schemas, the CDC connector, the pipeline processes.

``bring_up`` is what ``polydemo up`` runs:
runtime.up -> schemas (database.sql, TimeScaleDB.sql) -> Debezium connector RUNNING -> projectors + relay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from polydemo import resources
from polydemo.config import SERVICES, Settings
from polydemo.pipeline import connector, workers
from polydemo.runtime.base import ProgressFn, Runtime, UpResult, _ignore
from polydemo.pipeline.events import topics
from polydemo.pipeline.projector import dlq_topic
from polydemo.stores import kafka, postgres, timeseries



@dataclass
class StackUp:
    servers: UpResult
    connector_state: str | None = None
    workers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def all_topics(settings: Settings) -> list[str]:
    from polydemo.domain.posts import dualwrite_topic

    return [*topics(settings.topic_prefix).values(), dualwrite_topic(settings), dlq_topic(settings)]


def apply_schemas(settings: Settings) -> None:
    with postgres.connect(settings) as conn:
        conn.execute(resources.read_text(resources.DATABASE_SQL))
    with timeseries.connect(settings) as conn:
        conn.execute(resources.read_text(resources.TIMESERIES_SQL))
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_partman'").fetchone():
            conn.execute("SELECT partman.run_maintenance('public.events')")


def bring_up(runtime: Runtime, services: list[str] | None = None, keep: bool = False,
             progress: ProgressFn = _ignore, pipeline: bool = True) -> StackUp:
    t0 = time.monotonic()
    servers = runtime.up(services, keep=keep, progress=progress)
    result = StackUp(servers=servers)
    names = {s.service for s in servers.statuses}
    if pipeline and names >= set(SERVICES):
        settings = runtime.settings
        progress("schemas", "starting", "database.sql, TimeScaleDB.sql")
        apply_schemas(settings)
        progress("schemas", "healthy", "")
        kafka.ensure_topics(settings, all_topics(settings))
        progress("cdc", "starting", "registering the Debezium connector")
        overrides = runtime.connector_overrides() if hasattr(runtime, "connector_overrides") else None
        doc = connector.register(settings, overrides=overrides)
        result.connector_state = connector.states(doc)[0]
        progress("cdc", "healthy", f"connector {settings.connector_name} RUNNING")
        progress("projectors", "starting", "graph, cache, analytics, relay")
        result.workers = workers.start_all(settings)
        workers.wait_running(settings, timeout=30)
        progress("projectors", "healthy", "")
    result.seconds = time.monotonic() - t0
    return result


def bring_down(runtime: Runtime, services: list[str] | None = None, progress: ProgressFn = _ignore) -> dict[str, str]:
    outcome: dict[str, str] = {}
    if not services or set(services) >= set(SERVICES):
        for name in workers.WORKERS:
            progress(f"projector-{name}", "stopping", "")
            outcome[f"projector-{name}"] = workers.stop(runtime.settings, name)
            progress(f"projector-{name}", outcome[f"projector-{name}"], "")
    outcome.update(runtime.down(services, progress=progress))
    return outcome
