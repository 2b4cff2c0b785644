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
