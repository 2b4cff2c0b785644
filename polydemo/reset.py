"""`polydemo reset`: every store, topic and consumer group back to the seeded state.

The replication slot is dropped and recreated **deliberately**, and the command says so: a
reset throws away the changes still waiting in it, which is the point of a reset and never
something to do silently (silently recreating a slot is how CDC pipelines lose data).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from polydemo import seed as seed_lib
from polydemo.config import Settings
from polydemo.errors import PolydemoError
from polydemo.pipeline import connector, workers
from polydemo.pipeline.loop import group_id
from polydemo.pipeline.topics import all_topics, topic_configs, topic_partitions
from polydemo.stores import Stores, using


def reset(settings: Settings, say: Callable[[str], None] = print, stores: Stores | None = None) -> seed_lib.SeedResult:
    with using(settings, stores) as st:
        return _reset(settings, say, st)


def _reset(settings: Settings, say: Callable[[str], None], stores: Stores) -> seed_lib.SeedResult:
    say("stopping the projectors and the post relay")
    for name in workers.ALL_WORKERS:
        workers.stop(settings, name)
    say(f"stopping connector {settings.connector_name} and clearing its stored offsets")
    connector.stop_and_clear_offsets(settings)
    say(
        f"dropping replication slot {settings.slot_name} deliberately: changes still queued in it are discarded; "
        "Debezium recreates it when the connector resumes"
    )
    _drop_slot(stores)
    for name in workers.OPTIONAL:
        say(f"removing the optional {name} projector: its consumer group and its keys (`projector add {name}` again)")
    say("emptying every store (users, follows, posts, graph, cache, events)")
    seed_lib.clear_all(settings, stores)
    dropped = stores.users.drop_story_columns()
    if dropped:
        say(f"dropping the schema-change story's columns ({', '.join(dropped)}): database.sql is the schema")
    stores.posts.clear_relay_token()
    say("deleting and recreating the topics and the projectors' consumer groups")
    stores.kafka.delete_groups([group_id(settings, n) for n in (*workers.PROJECTOR_NAMES, *workers.OPTIONAL)])
    stores.kafka.recreate_topics(
        all_topics(settings), configs=topic_configs(settings), partitions=topic_partitions(settings)
    )
    say("resuming the connector (new slot, empty snapshot)")
    stores.connect.resume()
    connector.wait_running(settings, timeout=90)
    for name in workers.WORKERS:
        workers.start(settings, name)
    workers.wait_running(settings, timeout=30)
    say("seeding")
    result = seed_lib.seed(settings, stores=stores)
    if not seed_lib.wait_converged(settings, timeout=90, stores=stores):
        raise PolydemoError("the projectors did not catch up after the reset", hint="see `polydemo projector status`")
    return result


def _drop_slot(stores: Stores) -> None:
    deadline = time.monotonic() + 30
    while True:
        active = stores.users.slot_active()
        if active is None:
            return
        if not active:
            stores.users.drop_slot()
            return
        if time.monotonic() > deadline:
            raise PolydemoError(
                f"replication slot {stores.settings.slot_name} is still in use",
                hint="stop Kafka Connect (`polydemo down connect`) and retry",
            )
        time.sleep(0.3)
