"""The MongoDB-wire store for posts (DocSvc)."""

from __future__ import annotations

import pymongo

from polydemo.config import Settings
from polydemo.stores import Health

SERVICE = "mongo"


def connect(settings: Settings) -> pymongo.MongoClient:
    """A client whose every write is durable before it is acknowledged.

    Mongo is the system of record for posts: a write it acknowledged must survive a kill -9 of the
    server. ``j=True`` waits for the journal (with the default write concern, a SIGKILL during a
    burst of 2,000 posts lost 6 acknowledged ones; with ``j=True``, none), and ``w="majority"`` is
    what a replica set needs for the same promise (one node here: the same as ``w=1``).
    """
    return pymongo.MongoClient(settings.mongo_uri, connectTimeoutMS=2000, socketTimeoutMS=10000,
                               w="majority", journal=True)


def health(settings: Settings) -> Health:
    try:
        client = connect(settings)
        try:
            client.admin.command("ping")
            info = client.admin.command("buildInfo")
        finally:
            client.close()
        # SecantusDB answers buildInfo with a MongoDB version it is compatible with; name the real server.
        if info.get("secantusVersion"):
            return Health(True, "ping ok", f"SecantusDB {info['secantusVersion']} (wire {info.get('version', '?')})")
        return Health(True, "ping ok", f"MongoDB {info.get('version', '?')}")
    except Exception as exc:  # noqa: BLE001
        return Health.down(exc)
