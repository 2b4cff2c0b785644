"""Every topic polydemo uses, in one list (``up`` creates them before any consumer starts)."""

from __future__ import annotations

from polydemo.config import Settings
from polydemo.pipeline.dualwrite import dualwrite_topic
from polydemo.pipeline.events import topics
from polydemo.pipeline.outbox import outbox_topic
from polydemo.pipeline.projector import dlq_topic


def all_topics(settings: Settings) -> list[str]:
    return [
        *topics(settings.topic_prefix).values(),
        dualwrite_topic(settings),
        outbox_topic(settings),
        dlq_topic(settings),
    ]
