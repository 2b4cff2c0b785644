"""Strong versus eventual reads: one user as each store holds it now, compared with the source."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import asdict, dataclass

from polydemo.config import Settings
from polydemo.domain import users
from polydemo.errors import StoreUnreachable, silent
from polydemo.pipeline.lag import projector_lag
from polydemo.stores import Stores, using

log = logging.getLogger(__name__)

STORES = ["postgres", "redis", "neo4j"]
PROJECTOR_OF = {"redis": "cache", "neo4j": "graph"}
GATEWAY_OF = {"redis": "cache", "neo4j": "graph"}


READ_TIMEOUT_S = 2.0
"""Every client of a read waits at most this for its server (a warm Neo4j connection: the server's 4 s hint),
so a frozen store answers "not answering" in seconds: with the writes' defaults, `read user` waited 119.8 s."""


def down_verdict(exc: BaseException) -> str:
    """ "not answering" when the server took the connection but said nothing in time, else "down" (pure)."""
    return "not answering" if silent(exc) else "down"


@dataclass
class ReadResult:
    store: str
    found: bool
    name: str | None
    followers: int | None
    verdict: str  # "source of truth", "in sync", "missing", "stale", "down", "not answering"
    lag_messages: int | None
    read_ms: float
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def read_user(settings: Settings, who: str, stores: list[str], bundle: Stores | None = None) -> list[ReadResult]:
    with using(settings, bundle) as st:
        return _read_user(st, who, stores)


def _read_user(st: Stores, who: str, stores: list[str]) -> list[ReadResult]:
    t0 = time.perf_counter()
    source = users.get_user(st.settings, who, st.users)
    source_ms = (time.perf_counter() - t0) * 1000
    source_followers = st.users.follower_count(source.id) if source else None
    lags: dict[str, int] = {}
    with contextlib.suppress(StoreUnreachable):  # Kafka down: the lag is unknown, the reads still answer
        lags = projector_lag(st.settings, st.kafka)
    out = []
    for store in stores:
        if store == "postgres":
            out.append(
                ReadResult(
                    "postgres",
                    source is not None,
                    source.name if source else None,
                    source_followers,
                    "source of truth",
                    None,
                    source_ms,
                )
            )
            continue
        t0 = time.perf_counter()
        try:
            name, followers, found = _read(st, store, source.id if source else None, who)
        # broad: redis' and neo4j's errors (this layer imports neither) and OSError all mean "down" for this one
        # store, shown as its verdict with the error; the other stores are still read
        except Exception as exc:
            log.debug("reading %s from %s", who, store, exc_info=True)
            st.drop(GATEWAY_OF[store])
            ms = (time.perf_counter() - t0) * 1000
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:120]
            out.append(ReadResult(store, False, None, None, down_verdict(exc), None, ms, detail))
            continue
        ms = (time.perf_counter() - t0) * 1000
        lag = lags.get(PROJECTOR_OF[store])
        if source is None:
            verdict = "stale" if found else "in sync"
        elif not found:
            verdict = "missing"
        elif name != source.name or (followers is not None and followers != source_followers):
            verdict = "stale"
        else:
            verdict = "in sync"
        out.append(ReadResult(store, found, name, followers, verdict, lag, ms))
    return out


def _read(st: Stores, store: str, user_id: str | None, who: str):
    if store == "redis":
        uid = user_id or (st.cache.user_id(who) if "@" in who else who)
        prof = st.cache.profile(uid) if uid else None
        followers = st.cache.follower_count(uid) if prof and uid else None
        return (prof or {}).get("name"), followers, prof is not None
    found = st.graph.user(user_id, who)
    if found is None:
        return None, None, False
    return found[0], found[1], True
