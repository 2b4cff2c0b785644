"""The Debezium connector: register (idempotent), wait until RUNNING, inspect, pause, restart, delete.

Its configuration is the file ``stack/connect/polydemo-users.json``; the placeholders in it
are filled from Settings, and the password never leaves this process except to Connect.
"""

from __future__ import annotations

import json
import re
import time

import httpx

from polydemo import resources
from polydemo.config import Settings
from polydemo.errors import PolydemoError
from polydemo.stores.connect import Connect


def config(settings: Settings, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The connector config with Settings filled in. ``overrides`` come from the runtime: in Docker,
    Connect reaches Postgres as ``postgres:5432`` on the compose network, not at the host's port."""
    raw = json.loads(resources.read_text(resources.CONNECTOR))
    values = {
        "publication": settings.publication,
        "slot_name": settings.slot_name,
        "topic_prefix": settings.topic_prefix,
        "topic_prefix_re": re.escape(settings.topic_prefix),  # the outbox predicate's topic regex
        "host": settings.host,
        "port": settings.ports["postgres"],
        "user": settings.pg_user,
        "password": settings.pg_password,
        "dbname": settings.pg_db,
    }
    out = {k: str(v).format(**values) for k, v in raw.items() if not k.startswith("_")}
    return {**out, **(overrides or {})}


def status(settings: Settings, http: httpx.Client | None = None) -> dict | None:
    """Connect's status document for the connector, or None when it is not registered.

    Pass a long-lived ``http`` client to poll often: a new client costs ~25 ms of CPU (its SSL context).
    """
    gw = Connect(settings, http)
    try:
        return gw.status()
    finally:
        gw.close()


def states(doc: dict | None) -> tuple[str, list[str]]:
    if doc is None:
        return "UNREGISTERED", []
    return doc.get("connector", {}).get("state", "?"), [t.get("state", "?") for t in doc.get("tasks", [])]


def register(settings: Settings, timeout: float = 60.0, overrides: dict[str, str] | None = None) -> dict:
    """PUT the config (create or update) and wait for the connector and its task to be RUNNING.

    A PUT that times out, or that a rebalance refuses (409), is sent again until ``timeout``: a worker that
    is still joining its group (three brokers electing leaders for its just-made topics, on a busy machine)
    answers its REST API late. The PUT is idempotent, so sending it twice is harmless."""
    import httpx

    deadline = time.monotonic() + timeout
    with Connect(settings, timeout=15) as gw:
        while True:
            try:
                resp = gw.put_config(config(settings, overrides))
            except httpx.TimeoutException:
                if time.monotonic() >= deadline:
                    raise
                continue
            if resp.status_code == 409 and time.monotonic() < deadline:
                time.sleep(1.0)
                continue
            break
        if resp.status_code not in (200, 201):
            raise PolydemoError(
                f"Kafka Connect refused the connector config ({resp.status_code})",
                hint="see `polydemo logs connect`",
                details=_redact(resp.text, settings)[:800],
            )
    return wait_running(settings, timeout)


def wait_running(
    settings: Settings, timeout: float = 60.0, http: httpx.Client | None = None, grace: float = 0.0
) -> dict:
    """Wait for the connector and its tasks to be RUNNING; FAILED raises with the task's trace, once ``grace``
    seconds have passed (a restart just asked for is asynchronous: the status may still read FAILED)."""
    deadline = time.monotonic() + timeout
    judge = time.monotonic() + grace
    doc = None
    with Connect(settings, http, timeout=3) as gw:
        while time.monotonic() < deadline:
            try:
                doc = gw.status()
            except httpx.HTTPError:
                doc = None  # Connect restarting: ask again
            conn_state, tasks = states(doc)
            if doc is not None and conn_state == "RUNNING" and tasks and all(t == "RUNNING" for t in tasks):
                return doc
            if doc is not None and ("FAILED" in tasks or conn_state == "FAILED") and time.monotonic() >= judge:
                trace = next(
                    (t.get("trace", "") for t in doc.get("tasks", []) if t.get("state") == "FAILED"),
                    doc.get("connector", {}).get("trace", ""),
                )
                raise PolydemoError(
                    "the Debezium connector FAILED",
                    hint="see `polydemo logs connect`; once the cause is fixed: polydemo connector restart",
                    details=_redact(trace, settings)[:1200],
                )
            time.sleep(0.25)
    conn_state, tasks = states(doc)
    raise PolydemoError(
        f"the Debezium connector is not RUNNING after {timeout:.0f}s (connector {conn_state}, tasks {tasks or 'none'})",
        hint="see `polydemo logs connect`",
    )


RESTART_SETTLE_S = 5.0
"""How long a just-restarted connector may still read FAILED before that counts."""


def restart(settings: Settings, timeout: float = 60.0, http: httpx.Client | None = None) -> tuple[dict, list[str]]:
    """Restart what FAILED (the connector, its task) and wait for RUNNING; returns the status document and what
    was restarted (``"connector"``, ``"task 0"``; empty when all was running). It fails again with the task's
    trace when the cause is still there."""
    with Connect(settings, http, timeout=15) as gw:
        before = gw.status()
        if before is None:
            raise PolydemoError(
                f"the connector {settings.connector_name} is not registered",
                hint="register it: polydemo connector register",
            )
        failed = ["connector"] if states(before)[0] == "FAILED" else []
        failed += [
            f"task {t.get('id', i)}" for i, t in enumerate(before.get("tasks", [])) if t.get("state") == "FAILED"
        ]
        resp = gw.restart()
        if resp.status_code not in (200, 202, 204):
            raise PolydemoError(
                f"Kafka Connect refused to restart the connector ({resp.status_code})",
                hint="see `polydemo logs connect`",
                details=_redact(resp.text, settings)[:800],
            )
    return wait_running(settings, timeout, http=http, grace=RESTART_SETTLE_S if failed else 0.0), failed


def wait_state(settings: Settings, state: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    with Connect(settings, timeout=3) as gw:
        while states(gw.status())[0] != state:
            if time.monotonic() > deadline:
                raise PolydemoError(
                    f"the connector did not reach {state} in {timeout:.0f}s", hint="see `polydemo logs connect`"
                )
            time.sleep(0.2)


def pause(settings: Settings) -> None:
    with Connect(settings) as gw:
        gw.pause()


def resume(settings: Settings) -> None:
    with Connect(settings) as gw:
        gw.resume()


def delete(settings: Settings) -> bool:
    with Connect(settings) as gw:
        return gw.delete()


def stop_and_clear_offsets(settings: Settings) -> None:
    """Stop the connector and delete its stored source offsets (what ``reset`` needs before dropping the slot)."""
    if status(settings) is None:
        register(settings)
    with Connect(settings, timeout=30) as gw:
        gw.stop()
        wait_state(settings, "STOPPED")
        resp = gw.delete_offsets()
        if resp.status_code not in (200, 202, 204):
            raise PolydemoError(
                f"Connect refused to reset the connector's offsets ({resp.status_code})",
                details=_redact(resp.text, settings)[:500],
            )


def _redact(text: str, settings: Settings) -> str:
    return text.replace(settings.pg_password, "********") if settings.pg_password else text
