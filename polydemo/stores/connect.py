"""Kafka Connect's REST API, with the Debezium PostgreSQL connector. Everything polydemo asks of it is here.

:class:`Connect` is the gateway: one HTTP client (a new one costs ~25 ms of CPU for its SSL context),
readiness, plugins, and the connector's config, status, pause/resume/stop, offsets and deletion.
How the config is built and when to wait is the pipeline's business (``pipeline/connector.py``).
"""

from __future__ import annotations

import httpx

from polydemo.config import Settings
from polydemo.stores import Gateway, Health

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
    except Exception as exc:  # noqa: BLE001 - health never raises: a down store is an answer
        return Health.down(exc)


def plugins(settings: Settings) -> list[dict]:
    with Connect(settings) as c:
        return c.plugins()


class Connect(Gateway[httpx.Client]):
    """The Connect gateway, for the connector named in Settings."""

    service = SERVICE

    def __init__(self, settings: Settings, http: httpx.Client | None = None, timeout: float = 5.0):
        super().__init__(settings, http, timeout)
        self.name = settings.connector_name

    def _connect(self) -> httpx.Client:
        return client(self.settings, timeout=self._timeout or 5.0)

    @property
    def http(self) -> httpx.Client:
        return self.client

    def version(self) -> str:
        return self.http.get("/").json().get("version", "?")

    def plugins(self) -> list[dict]:
        resp = self.http.get("/connector-plugins")
        resp.raise_for_status()
        return resp.json()

    # ------------------------------------------------------------ the connector
    def status(self) -> dict | None:
        """Connect's status document for the connector, or None when it is not registered."""
        resp = self.http.get(f"/connectors/{self.name}/status")
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        return resp.json()

    def put_config(self, config: dict[str, str]) -> httpx.Response:
        """Create or update (PUT is idempotent); the caller judges the response."""
        return self.http.put(f"/connectors/{self.name}/config", json=config)

    def pause(self) -> None:
        self.http.put(f"/connectors/{self.name}/pause").raise_for_status()

    def resume(self) -> None:
        self.http.put(f"/connectors/{self.name}/resume").raise_for_status()

    def restart(self) -> httpx.Response:
        """Restart the connector and its tasks where they FAILED (KIP-745: ``includeTasks``, ``onlyFailed``;
        202 with the instances' states, RESTARTING for those being restarted); the caller judges it."""
        return self.http.post(f"/connectors/{self.name}/restart", params={"includeTasks": "true", "onlyFailed": "true"})

    def stop(self) -> None:
        self.http.put(f"/connectors/{self.name}/stop").raise_for_status()

    def delete_offsets(self) -> httpx.Response:
        return self.http.delete(f"/connectors/{self.name}/offsets")

    def delete(self) -> bool:
        resp = self.http.delete(f"/connectors/{self.name}")
        if resp.status_code == 404:
            return False
        resp.raise_for_status()
        return True
