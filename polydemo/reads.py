"""Strong versus eventual reads: one user as each store holds it now, compared with the source."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from polydemo.config import Settings
from polydemo.domain import users
from polydemo.stores import cache, graph

STORES = ["postgres", "redis", "neo4j"]
PROJECTOR_OF = {"redis": "cache", "neo4j": "graph"}


@dataclass
class ReadResult:
    store: str
    found: bool
    name: str | None
    followers: int | None
    verdict: str  # "source of truth", "in sync", "missing", "stale", "down"
    lag_messages: int | None
    read_ms: float
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def read_user(settings: Settings, who: str, stores: list[str]) -> list[ReadResult]:
    t0 = time.perf_counter()
    source = users.get_user(settings, who)
    source_ms = (time.perf_counter() - t0) * 1000
    source_followers = users.follower_count(settings, source.id) if source else None
    lags = {}
    try:
        from polydemo.pipeline.lag import projector_lag

        lags = projector_lag(settings)
    except Exception:  # noqa: BLE001 - Kafka down: lag unknown
        pass
    out = []
    for store in stores:
        if store == "postgres":
            out.append(ReadResult("postgres", source is not None, source.name if source else None, source_followers,
                                  "source of truth", None, source_ms))
            continue
        t0 = time.perf_counter()
        try:
            name, followers, found = _read(settings, store, source.id if source else None, who)
        except Exception as exc:  # noqa: BLE001
            out.append(ReadResult(store, False, None, None, "down", None, 0.0, f"{type(exc).__name__}: {exc}"[:120]))
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


def _read(settings: Settings, store: str, user_id: str | None, who: str):
    if store == "redis":
        gw = cache.Cache(settings)
        try:
            uid = user_id or (gw.user_id(who) if "@" in who else who)
            prof = gw.profile(uid) if uid else None
            followers = gw.follower_count(uid) if prof else None
        finally:
            gw.close()
        return (prof or {}).get("name"), followers, prof is not None
    with graph.connect(settings) as driver, driver.session() as s:
        rec = s.run("MATCH (u:User) WHERE u.id = $id OR u.email = $email "
                    "OPTIONAL MATCH (f:User)-[:FOLLOWS]->(u) RETURN u.name AS name, count(f) AS followers",
                    id=user_id or who, email=who).single()
    if rec is None:
        return None, None, False
    return rec["name"], rec["followers"], True
