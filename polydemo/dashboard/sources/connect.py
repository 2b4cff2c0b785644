"""The Connect panel's connector: its state and its tasks' (the first line of a failed task's trace), and the
Kafka Connect and Debezium versions for the header (``stores.connect.Connect``)."""

from __future__ import annotations

from polydemo.dashboard.model import ConnectData, ConnectTask
from polydemo.dashboard.sources import BaseSource, Frame


class ConnectSource(BaseSource):
    name = "connect"
    gateways = ("connect",)

    def __init__(self, settings, stores):
        self.settings, self.stores = settings, stores
        self._version: str | None = None

    def collect(self, frame: Frame) -> ConnectData:
        from polydemo.pipeline import connector

        gw = self.stores.connect
        doc = gw.status()
        if self._version is None:
            self._version = gw.version()
        dbz = ((doc or {}).get("connector") or {}).get("version") or ""
        self.label = f"Kafka Connect {self._version}" + (f" + Debezium {dbz.removesuffix('.Final')}" if dbz else "")
        state, _ = connector.states(doc)
        tasks = [
            ConnectTask(
                int(t.get("id", i)),
                t.get("state", "?"),
                (t.get("trace") or "").strip().splitlines()[0][:160] if t.get("trace") else None,
            )
            for i, t in enumerate((doc or {}).get("tasks", []))
        ]
        return ConnectData(self.settings.connector_name, state, tasks)
