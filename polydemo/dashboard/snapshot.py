"""The dashboard's frame data and its collector, by their long-standing names.

The pieces live apart: the pure data in :mod:`polydemo.dashboard.model`, one source per panel in
:mod:`polydemo.dashboard.sources`, the concurrent, deadline-bound collector in
:mod:`polydemo.dashboard.collector`. This module re-exports what other modules import from here.
"""

from __future__ import annotations

from polydemo.dashboard.collector import Collector, broker_services, default_sources
from polydemo.dashboard.model import (
    CachedProfile,
    ConnectData,
    ConnectTask,
    FeedItem,
    Followed,
    GroupLag,
    KafkaData,
    MongoData,
    Neo4jData,
    PartLag,
    PostgresData,
    PostRow,
    RedisData,
    SchemaField,
    ServiceHealth,
    SlotData,
    Snapshot,
    TimeseriesData,
    TopicHigh,
    TopicSchema,
    UserRow,
    WorkerRow,
)
from polydemo.dashboard.sources import FIRST_TIMEOUT, SAMPLE, TIMEOUT, Frame, Source
from polydemo.dashboard.sources.feed import FEED_SIZE
from polydemo.dashboard.sources.kafka import lag_trend, partition_owners

__all__ = [
    "FEED_SIZE",
    "FIRST_TIMEOUT",
    "SAMPLE",
    "TIMEOUT",
    "CachedProfile",
    "Collector",
    "ConnectData",
    "ConnectTask",
    "FeedItem",
    "Followed",
    "Frame",
    "GroupLag",
    "KafkaData",
    "MongoData",
    "Neo4jData",
    "PartLag",
    "PostRow",
    "PostgresData",
    "RedisData",
    "SchemaField",
    "ServiceHealth",
    "SlotData",
    "Snapshot",
    "Source",
    "TimeseriesData",
    "TopicHigh",
    "TopicSchema",
    "UserRow",
    "WorkerRow",
    "broker_services",
    "default_sources",
    "lag_trend",
    "partition_owners",
]
