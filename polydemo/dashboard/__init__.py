"""The live dashboard: ``snapshot`` gathers one frame of data from every store, ``render`` draws it.

The two halves meet only through :class:`~polydemo.dashboard.snapshot.Snapshot`, plain
JSON-serialisable data, so frames can be recorded, replayed and rendered in tests without servers.
"""
