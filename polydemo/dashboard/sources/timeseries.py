"""The time-series panel: all events, and events per type per minute over the last WINDOW_MINUTES
(``stores.timeseries.Events``)."""

from __future__ import annotations

from polydemo.dashboard.model import TimeseriesData
from polydemo.dashboard.sources import BaseSource, Frame
from polydemo.stores.postgres import EXACT_BELOW

WINDOW_MINUTES = 15  # time-series sparklines


class TimeseriesSource(BaseSource):
    name = "timeseries"
    gateways = ("events",)

    def __init__(self, stores):
        self.stores = stores

    def collect(self, frame: Frame) -> TimeseriesData:
        try:
            events = self.stores.events
            if self.label is None:
                self.label = events.label()
            total, minutes, per_type = events.per_minute(WINDOW_MINUTES, exact_below=EXACT_BELOW)
            return TimeseriesData(total, [m.isoformat() for m in minutes], per_type, events.total_estimated)
        except Exception:  # broad, and re-raised (the collector shows it): a broken psycopg connection is made anew
            self.stores.drop("events")  # a broken psycopg connection does not heal itself
            raise
