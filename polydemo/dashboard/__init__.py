"""The live dashboard: a collector gathers one frame of data from every store, ``render`` draws it.

The two halves meet only through :class:`~polydemo.dashboard.model.Snapshot`, plain JSON-serialisable data, so
frames can be recorded, replayed and rendered in tests without servers. ``model`` (the data), ``sources`` (one
per panel, each asking its gateway), ``collector`` (runs them concurrently with a deadline), ``render`` (Rich),
``live`` (the loop), ``cast`` (asciicasts); ``snapshot`` re-exports the names other modules import.
"""
