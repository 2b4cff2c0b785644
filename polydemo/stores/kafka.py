"""Apache Kafka: metadata, topics, offsets and consumer-group lag through the admin API."""

from __future__ import annotations

import logging

from confluent_kafka.admin import AdminClient

from polydemo.config import Settings
from polydemo.stores import Health

SERVICE = "kafka"


def admin(settings: Settings) -> AdminClient:
    return AdminClient(client_config(settings))


# librdkafka logs every failed connection attempt; while a broker is (deliberately) down in a
# drill that chatter would scroll the dashboard away, so it goes to a logger that drops it.
_QUIET = logging.getLogger("polydemo.librdkafka")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def client_config(settings: Settings, **extra) -> dict:
    return {"bootstrap.servers": settings.kafka_bootstrap, "socket.timeout.ms": 3000,
            "logger": _QUIET, **extra}


def health(settings: Settings) -> Health:
    try:
        md = admin(settings).list_topics(timeout=2)
        if not md.brokers:
            return Health(False, "no broker in metadata")
        return Health(True, f"metadata ok ({len(md.brokers)} broker, {len(md.topics)} topics)")
    except Exception as exc:  # noqa: BLE001
        return Health.down(exc)


def ensure_topics(settings: Settings, names: list[str], partitions: int = 1, timeout: float = 10.0) -> list[str]:
    """Create the topics that do not exist yet (so consumers never start on a missing topic). Returns those created."""
    from confluent_kafka.admin import NewTopic

    client = admin(settings)
    existing = client.list_topics(timeout=timeout).topics
    missing = [n for n in names if n not in existing]
    if not missing:
        return []
    futures = client.create_topics([NewTopic(n, partitions, 1) for n in missing], request_timeout=timeout)
    for name, fut in futures.items():
        try:
            fut.result()
        except Exception as exc:  # noqa: BLE001 - created meanwhile by someone else is fine
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    return missing
