"""Kafka cluster mode on docker (``up --kafka-brokers 3``): which services are brokers, the guard against
mixing one broker and a cluster in the one project an engine has, and the KRaft quorum's leader as the
broker containers record it. Functions of the Settings and the project's containers."""

from __future__ import annotations

import json
from collections.abc import Callable

from polydemo.config import Settings
from polydemo.errors import PolydemoError
from polydemo.runtime.base import CLUSTER_BROKERS

# Where each broker container's KRaft quorum state is (KAFKA_LOG_DIRS=/var/lib/kafka/data).
QUORUM_STATE = "/var/lib/kafka/data/__cluster_metadata-0/quorum-state"


def is_broker(settings: Settings, name: str) -> bool:
    """A service probed as one broker of the cluster (through its own port and the cluster's metadata)."""
    return settings.cluster and (name == "kafka" or name in CLUSTER_BROKERS)


def kafka_brokers_of(env: list[str]) -> int | None:
    """How many voters a kafka container's quorum has, from its ``Config.Env`` (None when it does not say)."""
    for item in env:
        key, _, value = item.partition("=")
        if key == "KAFKA_CONTROLLER_QUORUM_VOTERS":
            return len([v for v in value.split(",") if v.strip()])
    return None


def refuse_other_mode(settings: Settings, project: str, containers: Callable[[], dict]) -> None:
    """The compose project is one per engine: a cluster left running by another home (or one broker
    while this home wants three) cannot be reused, and Compose would not notice (kafka is healthy).
    Asks the engine, not ``compose ps``, which does not list a service its files do not enable."""
    try:
        found = containers()
    except Exception:  # noqa: BLE001 - the checks that follow (compose up) say what is wrong
        return
    alive = {n for n, c in found.items() if c.status in ("running", "paused", "restarting")}
    brokers = [n for n in CLUSTER_BROKERS if n in alive]
    if brokers and not settings.cluster:
        raise PolydemoError(
            f"a Kafka cluster ({', '.join(['kafka', *brokers])}) of project {project} is running, "
            "and this home runs one broker",
            hint="stop it first: `POLYDEMO_KAFKA_BROKERS=3 polydemo --runtime docker down`, or use `--kafka-brokers 3`",
        )
    if settings.cluster and "kafka" in alive and not brokers:
        env = ((found["kafka"].attrs or {}).get("Config") or {}).get("Env") or []
        if kafka_brokers_of(list(env)) == 1:
            raise PolydemoError(
                f"the kafka container of project {project} runs one broker, not a cluster of 3",
                hint="stop it first (`POLYDEMO_KAFKA_BROKERS=1 polydemo --runtime docker down`), then "
                "`polydemo --runtime docker up --kafka-brokers 3`",
            )


def controller_leader(services: list[str], containers: Callable[[], dict]) -> tuple[int, int] | None:
    """(leader id, epoch) of the KRaft quorum, from the ``quorum-state`` file each running broker container
    keeps (highest epoch wins, as the local runtime reads them); None if none says."""
    best: tuple[int, int] | None = None
    try:
        found = containers()
    except Exception:  # noqa: BLE001 - the table says "unknown"
        return None
    for name in services:
        c = found.get(name)
        if not name.startswith("kafka") or c is None or c.status != "running":
            continue
        try:
            code, out = c.exec_run(["cat", QUORUM_STATE], demux=False)
            doc = json.loads(out) if code == 0 else {}
        except Exception:  # noqa: BLE001 - one broker that cannot say is skipped
            continue
        leader, epoch = doc.get("leaderId", -1), doc.get("leaderEpoch", -1)
        if isinstance(leader, int) and leader >= 0 and (best is None or int(epoch) > best[1]):
            best = (leader, int(epoch))
    return best
