"""Unit tests run without a stack and see no POLYDEMO_* environment: not the developer's shell's, and not
the integration conftest's (which sets POLYDEMO_HOME and the port offset for the whole session)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_polydemo_environment(monkeypatch):
    for name in [n for n in os.environ if n.startswith("POLYDEMO_")]:
        monkeypatch.delenv(name)
