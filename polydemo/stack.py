"""The whole demo stack: servers (through a Runtime), schemas, the CDC connector, the pipeline processes.

``bring_up`` is what ``polydemo up`` runs:
runtime.up -> schemas (database.sql, TimeScaleDB.sql) -> Debezium connector RUNNING -> projectors + relay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from polydemo import seed
from polydemo.config import SERVICES, Settings
from polydemo.pipeline import connector, workers
from polydemo.pipeline.topics import all_topics, topic_configs, topic_partitions, under_partitioned
from polydemo.runtime.base import ProgressFn, Runtime, UpResult, _ignore
from polydemo.stores import Stores
from polydemo.stores.kafka import KafkaAdmin
from polydemo.stores.postgres import SlotInfo, Users


@dataclass
class StackUp:
    servers: UpResult
    connector_state: str | None = None
    workers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # one line each, said after the result (old topics)


def apply_schemas(settings: Settings) -> None:
    with Stores(settings) as stores:
        seed.apply_schemas(stores)


def bring_up(
    runtime: Runtime,
    services: list[str] | None = None,
    keep: bool = False,
    progress: ProgressFn = _ignore,
    pipeline: bool = True,
) -> StackUp:
    t0 = time.monotonic()
    servers = runtime.up(services, keep=keep, progress=progress)
    result = StackUp(servers=servers)
    names = {s.service for s in servers.statuses}
    if pipeline and names >= set(SERVICES):
        settings = runtime.settings
        progress("schemas", "starting", "database.sql, TimeScaleDB.sql")
        apply_schemas(settings)
        progress("schemas", "healthy", "")
        kafka = KafkaAdmin(settings)
        wanted = all_topics(settings)
        kafka.ensure_topics(wanted, partitions=topic_partitions(settings), configs=topic_configs(settings))
        result.notes.extend(partition_notes(settings, kafka.partition_counts(wanted)))
        progress("cdc", "starting", "registering the Debezium connector")
        doc = connector.register(settings, overrides=runtime.connector_overrides())
        result.connector_state = connector.states(doc)[0]
        progress("cdc", "healthy", f"connector {settings.connector_name} RUNNING")
        progress("projectors", "starting", "graph, cache, analytics, relay")
        result.workers = workers.start_all(settings)
        workers.wait_running(settings, timeout=30)
        progress("projectors", "healthy", "")
    result.seconds = time.monotonic() - t0
    return result


def partition_notes(settings: Settings, counts: dict[str, int]) -> list[str]:
    """One line when topics made before partitioning exist (pure): they keep their single partition, so a
    projector scaled up would have idle instances, until ``polydemo reset`` recreates them."""
    few = under_partitioned(settings, counts)
    if not few:
        return []
    prefix = settings.topic_prefix + "."
    names = ", ".join(t.removeprefix(prefix) for t in few)
    return [
        f"topics {names} have {min(counts[t] for t in few)} partition(s), made before partitioning: "
        "`polydemo projector scale` has nothing to share until `polydemo reset` recreates them"
    ]


def slot_status(settings: Settings) -> SlotInfo | None:
    """The Debezium slot's retained WAL, cap and oldest unsent change; None when Postgres does not answer."""
    with Users(settings) as users:
        return users.slot_if_up()


def bring_down(runtime: Runtime, services: list[str] | None = None, progress: ProgressFn = _ignore) -> dict[str, str]:
    outcome: dict[str, str] = {}
    if not services or set(services) >= set(SERVICES):
        for name in (*workers.WORKERS, *workers.running_optional(runtime.settings)):
            progress(f"projector-{name}", "stopping", "")
            outcome[f"projector-{name}"] = workers.stop(runtime.settings, name)
            progress(f"projector-{name}", outcome[f"projector-{name}"], "")
    outcome.update(runtime.down(services, progress=progress))
    return outcome
