"""Kafka Connect's REST API, with the Debezium PostgreSQL connector."""

from __future__ import annotations

import httpx

from polydemo.config import Settings
from polydemo.stores import Health

SERVICE = "connect"


def client(settings: Settings, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(base_url=settings.connect_url, timeout=timeout)


def health(settings: Settings) -> Health:
    """Ready means ``GET /connectors`` answers 200: ``GET /`` answers earlier, before Connect can serve."""
    try:
        with client(settings, timeout=3) as http:
            resp = http.get("/connectors")
            if resp.status_code != 200:
                return Health(False, f"GET /connectors -> {resp.status_code}")
            version = http.get("/").json().get("version")
        return Health(True, "GET /connectors 200", f"Kafka Connect {version}")
    except Exception as exc:  # noqa: BLE001
        return Health.down(exc)


def plugins(settings: Settings) -> list[dict]:
    with client(settings) as http:
        resp = http.get("/connector-plugins")
        resp.raise_for_status()
        return resp.json()
