"""Redis, the cache of user profiles and follower counts."""

from __future__ import annotations

import redis

from polydemo.config import Settings
from polydemo.stores import Health

SERVICE = "redis"


def connect(settings: Settings) -> redis.Redis:
    return redis.Redis(
        host=settings.host,
        port=settings.ports[SERVICE],
        socket_connect_timeout=2,
        socket_timeout=5,
        decode_responses=True,
    )


def health(settings: Settings) -> Health:
    try:
        client = connect(settings)
        try:
            client.ping()
            version = client.info("server").get("redis_version")
        finally:
            client.close()
        return Health(True, "PING ok", f"Redis {version}")
    except Exception as exc:  # noqa: BLE001
        return Health.down(exc)


# Key layout of the cache projection.
LAST_APPLIED_KEY = "polydemo:last_applied_ts_ms"


def profile_key(user_id: str) -> str:
    return f"user:{user_id}"


def email_key(email: str) -> str:
    return f"user:email:{email}"


def followers_key(user_id: str) -> str:
    return f"followers:{user_id}"


def following_key(user_id: str) -> str:
    return f"following:{user_id}"
