"""The MongoDB-wire store: posts, their system of record. Everything polydemo asks of it is here.

:class:`Posts` is the gateway: one client whose every write is durable (see :func:`connect`), the
``posts`` collection (inserts, likes, counts, the latest), the relay's saved change-stream token,
and the change stream itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pymongo
import pymongo.errors
from pymongo import ReturnDocument

from polydemo.config import Settings
from polydemo.errors import StoreTimeout
from polydemo.stores import Gateway, Health

SERVICE = "mongo"
POSTS = "posts"
RELAY_STATE = "_polydemo_relay"  # the relay's resume token, saved after Kafka acknowledged


def connect(settings: Settings, timeout: float | None = None) -> pymongo.MongoClient:
    """A client whose every write is durable before it is acknowledged.

    Mongo is the system of record for posts: a write it acknowledged must survive a kill -9 of the
    server. ``j=True`` waits for the journal (with the default write concern, a SIGKILL during a
    burst of 2,000 posts lost 6 acknowledged ones; with ``j=True``, none), and ``w="majority"`` is
    what a replica set needs for the same promise (one node here: the same as ``w=1``).
    """
    ms = int((timeout or 2.0) * 1000)
    return pymongo.MongoClient(
        settings.mongo_uri,
        connectTimeoutMS=ms,
        serverSelectionTimeoutMS=ms,
        socketTimeoutMS=10000 if timeout is None else ms,
        w="majority",
        journal=True,
        appname="polydemo",
    )


def server_label(client: pymongo.MongoClient) -> str:
    """SecantusDB answers buildInfo with a MongoDB version it is compatible with; name the real server."""
    info = client.admin.command("buildInfo")
    if info.get("secantusVersion"):
        return f"SecantusDB {info['secantusVersion']} (wire {info.get('version', '?')})"
    return f"MongoDB {info.get('version', '?')}"


def health(settings: Settings) -> Health:
    try:
        client = connect(settings)
        try:
            client.admin.command("ping")
            label = server_label(client)
        finally:
            client.close()
        return Health(True, "ping ok", label)
    except Exception as exc:  # noqa: BLE001 - health never raises: a down store is an answer
        return Health.down(exc)


@contextmanager
def _slow_is_a_timeout(what: str) -> Iterator[None]:
    """The client's timeout errors as polydemo's :class:`StoreTimeout` (the server is up, only slow)."""
    try:
        yield
    except (pymongo.errors.NetworkTimeout, pymongo.errors.ExecutionTimeout) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise StoreTimeout(f"the Mongo-wire server did not answer {what} in time", details=first) from exc


@dataclass
class PostSummary:
    id: str
    title: str
    likes: int
    author_id: str | None


class Posts(Gateway[pymongo.MongoClient]):
    """The Mongo gateway."""

    service = SERVICE

    def _connect(self) -> pymongo.MongoClient:
        return connect(self.settings, timeout=self._timeout)

    @property
    def db(self):
        return self.client[self.settings.mongo_db]

    @property
    def posts(self):
        return self.db[POSTS]

    def label(self) -> str:
        """:class:`StoreTimeout` when the server is slow to answer (as :meth:`estimated_count`, :meth:`latest`)."""
        with _slow_is_a_timeout("buildInfo"):
            return server_label(self.client)

    # ------------------------------------------------------------ schema
    def ensure_schema(self) -> None:
        self.posts.create_index("author_id")
        # The dashboard's latest posts (``latest``) sort on this every frame: without it, a scan of every post.
        self.posts.create_index([("created_at", -1), ("_id", -1)])

    # ------------------------------------------------------------ writes
    def insert(self, doc: dict) -> None:
        self.posts.insert_one(doc)

    def insert_if_missing(self, doc: dict) -> bool:
        """Upsert by ``_id`` without changing an existing post; True when it was new (seeding)."""
        return self.posts.update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True).upserted_id is not None

    def like(self, post_id: str, by: int = 1) -> dict | None:
        return self.posts.find_one_and_update(
            {"_id": post_id}, {"$inc": {"meta.likes": by}}, return_document=ReturnDocument.AFTER
        )

    def delete(self, post_ids: list[str]) -> int:
        return self.posts.delete_many({"_id": {"$in": list(post_ids)}}).deleted_count if post_ids else 0

    def clear(self) -> None:
        self.posts.delete_many({})

    def clear_relay_token(self) -> None:
        self.db[RELAY_STATE].delete_many({})

    # ------------------------------------------------------------ reads
    def titles(self, ids: list[str]) -> dict[str, str]:
        """id -> title of these posts (those that exist): the web view's labels."""
        return {str(d["_id"]): d.get("title") or "" for d in self.posts.find({"_id": {"$in": ids}}, {"title": 1})}

    def count(self, post_id: str | None = None) -> int:
        return self.posts.count_documents({"_id": post_id} if post_id else {})

    def count_ids(self, post_ids: list[str]) -> int:
        return self.posts.count_documents({"_id": {"$in": list(post_ids)}})

    def estimated_count(self) -> int:
        """From the collection's metadata (O(1)); exact on this server, an estimate on a sharded one."""
        with _slow_is_a_timeout("the count of posts"):
            return self.posts.estimated_document_count()

    def latest(self, n: int) -> list[PostSummary]:
        docs = (
            self.posts.find({}, {"title": 1, "meta.likes": 1, "author_id": 1})
            .sort([("created_at", -1), ("_id", -1)])
            .limit(n)
        )
        with _slow_is_a_timeout("the latest posts"):  # the cursor asks the server while it is read
            return [
                PostSummary(
                    str(d["_id"]),
                    d.get("title") or "",
                    int((d.get("meta") or {}).get("likes") or 0),
                    d.get("author_id"),
                )
                for d in docs
            ]

    # ------------------------------------------------------------ the relay's change stream
    def relay_token(self) -> dict | None:
        return (self.db[RELAY_STATE].find_one({"_id": "posts"}) or {}).get("token")

    def save_relay_token(self, token) -> None:
        self.db[RELAY_STATE].replace_one({"_id": "posts"}, {"_id": "posts", "token": token}, upsert=True)

    def watch(self, resume_after=None, max_await_time_ms: int = 100):
        kwargs: dict = {"full_document": "updateLookup", "max_await_time_ms": max_await_time_ms}
        if resume_after:
            kwargs["resume_after"] = resume_after
        return self.posts.watch(**kwargs)
