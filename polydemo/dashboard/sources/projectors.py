"""The projectors' rows of the Connect panel: every instance of every worker, from its status file
(``pipeline.workers``); no server is asked, so the collector runs it in the frame's own thread."""

from __future__ import annotations

import logging

from polydemo.dashboard.model import WorkerRow
from polydemo.dashboard.sources import BaseSource, Frame, short

log = logging.getLogger(__name__)


class ProjectorsSource(BaseSource):
    name = "projectors"

    def __init__(self, settings):
        self.settings = settings

    def collect(self, frame: Frame) -> list[WorkerRow]:
        from polydemo.pipeline import workers

        rows = []
        for name in (*workers.WORKERS, *workers.running_optional(self.settings)):
            try:
                for st in workers.statuses(self.settings, name):  # every instance (`projector scale`)
                    label = st.name if st.instance == 1 else f"{st.name}#{st.instance}"
                    rows.append(WorkerRow(label, st.running, st.state, st.pid, st.processed, st.last_error))
            # broad: a status file half written or unreadable (OSError, ValueError) or a process gone mid-read
            # (psutil) is one row's "unknown" with the error, never the whole panel's
            except Exception as exc:
                log.debug("status of %s", name, exc_info=True)
                rows.append(WorkerRow(name, False, "unknown", last_error=short(exc)))
        return rows
