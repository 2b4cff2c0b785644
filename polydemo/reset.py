"""`polydemo reset`: every store, topic and consumer group back to the seeded state.

The replication slot is dropped and recreated **deliberately**, and the command says so: a
reset throws away the changes still waiting in it, which is the point of a reset and never
something to do silently (silently recreating a slot is how CDC pipelines lose data).
"""

from __future__ import annotations

import time
from typing import Callable


from polydemo import seed as seed_lib
from polydemo.config import Settings
from polydemo.errors import PolydemoError
from polydemo.pipeline import connector, workers
from polydemo.pipeline.projector import group_id
from polydemo.pipeline.relay import STATE_COLLECTION
from polydemo.stores import connect, kafka, mongo, postgres


def reset(settings: Settings, say: Callable[[str], None] = print) -> seed_lib.SeedResult:
    from polydemo.stack import all_topics

    say("stopping the projectors and the post relay")
    for name in workers.WORKERS:
        workers.stop(settings, name)
    say(f"stopping connector {settings.connector_name} and clearing its stored offsets")
    _stop_connector_and_clear_offsets(settings)
    say(f"dropping replication slot {settings.slot_name} deliberately: changes still queued in it are discarded; "
        "Debezium recreates it when the connector resumes")
    _drop_slot(settings)
    say("emptying every store (users, follows, posts, graph, cache, events)")
    seed_lib.clear_all(settings)
    client = mongo.connect(settings)
    try:
        client[settings.mongo_db][STATE_COLLECTION].delete_many({})
    finally:
        client.close()
    say("deleting and recreating the topics and the projectors' consumer groups")
    _recreate_topics(settings, all_topics(settings))
    say("resuming the connector (new slot, empty snapshot)")
    with connect.client(settings) as http:
        http.put(f"/connectors/{settings.connector_name}/resume").raise_for_status()
    connector.wait_running(settings, timeout=90)
    for name in workers.WORKERS:
        workers.start(settings, name)
    workers.wait_running(settings, timeout=30)
    say("seeding")
    result = seed_lib.seed(settings)
    if not seed_lib.wait_converged(settings, timeout=90):
        raise PolydemoError("the projectors did not catch up after the reset", hint="see `polydemo projector status`")
    return result


def _stop_connector_and_clear_offsets(settings: Settings) -> None:
    name = settings.connector_name
    if connector.status(settings) is None:
        connector.register(settings)
    with connect.client(settings, timeout=30) as http:
        http.put(f"/connectors/{name}/stop").raise_for_status()
        deadline = time.monotonic() + 30
        while connector.states(connector.status(settings))[0] != "STOPPED":
            if time.monotonic() > deadline:
                raise PolydemoError("the connector did not stop", hint="see `polydemo logs connect`")
            time.sleep(0.2)
        resp = http.delete(f"/connectors/{name}/offsets")
        if resp.status_code not in (200, 202, 204):
            raise PolydemoError(f"Connect refused to reset the connector's offsets ({resp.status_code})",
                                details=resp.text[:500])


def _drop_slot(settings: Settings) -> None:
    deadline = time.monotonic() + 30
    with postgres.connect(settings) as conn:
        while True:
            row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s",
                               (settings.slot_name,)).fetchone()
            if row is None:
                return
            if not row[0]:
                conn.execute("SELECT pg_drop_replication_slot(%s)", (settings.slot_name,))
                return
            if time.monotonic() > deadline:
                raise PolydemoError(f"replication slot {settings.slot_name} is still in use",
                                    hint="stop Kafka Connect (`polydemo down connect`) and retry")
            time.sleep(0.3)


def _recreate_topics(settings: Settings, names: list[str]) -> None:
    from confluent_kafka.admin import NewTopic

    admin = kafka.admin(settings)
    groups = [group_id(settings, n) for n in workers.PROJECTOR_NAMES]
    try:
        for fut in admin.delete_consumer_groups(groups, request_timeout=10).values():
            try:
                fut.result()
            except Exception:  # noqa: BLE001 - a group that never committed does not exist
                pass
    except Exception:  # noqa: BLE001
        pass
    existing = admin.list_topics(timeout=10).topics
    doomed = [n for n in names if n in existing]
    if doomed:
        for fut in admin.delete_topics(doomed, operation_timeout=30).values():
            fut.result()
    deadline = time.monotonic() + 60
    while True:
        try:
            for fut in admin.create_topics([NewTopic(n, 1, 1) for n in names], request_timeout=10).values():
                fut.result()
            return
        except Exception as exc:  # noqa: BLE001 - "marked for deletion" for a moment after the delete
            if "TOPIC_ALREADY_EXISTS" in str(exc) and set(names) <= set(admin.list_topics(timeout=10).topics):
                return
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


