"""The Debezium connector: register (idempotent), wait until RUNNING, inspect, pause, delete.

Its configuration is the file ``stack/connect/polydemo-users.json``; the placeholders in it
are filled from Settings, and the password never leaves this process except to Connect.
"""

from __future__ import annotations

import json
import time

import httpx

from polydemo import resources
from polydemo.config import Settings
from polydemo.errors import PolydemoError
from polydemo.stores import connect


def config(settings: Settings, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The connector config with Settings filled in. ``overrides`` come from the runtime: in Docker,
    Connect reaches Postgres as ``postgres:5432`` on the compose network, not at the host's port."""
    raw = json.loads(resources.read_text(resources.CONNECTOR))
    values = {"publication": settings.publication, "slot_name": settings.slot_name,
              "topic_prefix": settings.topic_prefix, "host": settings.host,
              "port": settings.ports["postgres"], "user": settings.pg_user, "password": settings.pg_password,
              "dbname": settings.pg_db}
    out = {k: str(v).format(**values) for k, v in raw.items() if not k.startswith("_")}
    return {**out, **(overrides or {})}


def status(settings: Settings, http: httpx.Client | None = None) -> dict | None:
    """Connect's status document for the connector, or None when it is not registered.

    Pass a long-lived ``http`` client to poll often: a new client costs ~25 ms of CPU (its SSL context).
    """
    if http is None:
        with connect.client(settings, timeout=3) as own:
            return status(settings, own)
    resp = http.get(f"/connectors/{settings.connector_name}/status")
    if resp.status_code == 404:
        return None
    resp.raise_for_status()
    return resp.json()


def states(doc: dict | None) -> tuple[str, list[str]]:
    if doc is None:
        return "UNREGISTERED", []
    return doc.get("connector", {}).get("state", "?"), [t.get("state", "?") for t in doc.get("tasks", [])]


def register(settings: Settings, timeout: float = 60.0, overrides: dict[str, str] | None = None) -> dict:
    """PUT the config (create or update) and wait for the connector and its task to be RUNNING."""
    with connect.client(settings, timeout=15) as http:
        resp = http.put(f"/connectors/{settings.connector_name}/config", json=config(settings, overrides))
        if resp.status_code not in (200, 201):
            raise PolydemoError(f"Kafka Connect refused the connector config ({resp.status_code})",
                                hint="see `polydemo logs connect`", details=_redact(resp.text, settings)[:800])
    return wait_running(settings, timeout)


def wait_running(settings: Settings, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    doc = None
    while time.monotonic() < deadline:
        try:
            doc = status(settings)
        except httpx.HTTPError:
            doc = None
        conn_state, tasks = states(doc)
        if conn_state == "RUNNING" and tasks and all(t == "RUNNING" for t in tasks):
            return doc
        if "FAILED" in tasks or conn_state == "FAILED":
            trace = next((t.get("trace", "") for t in doc.get("tasks", []) if t.get("state") == "FAILED"),
                         doc.get("connector", {}).get("trace", ""))
            raise PolydemoError("the Debezium connector FAILED", hint="see `polydemo logs connect`",
                                details=_redact(trace, settings)[:1200])
        time.sleep(0.25)
    conn_state, tasks = states(doc)
    raise PolydemoError(f"the Debezium connector is not RUNNING after {timeout:.0f}s "
                        f"(connector {conn_state}, tasks {tasks or 'none'})", hint="see `polydemo logs connect`")


def pause(settings: Settings) -> None:
    with connect.client(settings) as http:
        http.put(f"/connectors/{settings.connector_name}/pause").raise_for_status()


def resume(settings: Settings) -> None:
    with connect.client(settings) as http:
        http.put(f"/connectors/{settings.connector_name}/resume").raise_for_status()


def delete(settings: Settings) -> bool:
    with connect.client(settings) as http:
        resp = http.delete(f"/connectors/{settings.connector_name}")
        if resp.status_code == 404:
            return False
        resp.raise_for_status()
        return True


def _redact(text: str, settings: Settings) -> str:
    return text.replace(settings.pg_password, "********") if settings.pg_password else text
