"""The one registry of the stores: every other list (ports, gateways, health, error labels) agrees with it."""

from __future__ import annotations

import importlib

import psycopg
import pytest

from polydemo.cli.context import store_of
from polydemo.config import SERVICES, Settings
from polydemo.stores import BY_ATTR, REGISTRY, Stores


def test_every_service_with_a_port_is_a_store_and_every_store_has_a_port():
    assert sorted(s.service for s in REGISTRY) == sorted(SERVICES)


@pytest.mark.parametrize("store", REGISTRY, ids=lambda s: s.service)
def test_each_entry_names_a_real_gateway_talking_to_its_service(store):
    module = importlib.import_module(f"polydemo.stores.{store.module}")
    gateway = getattr(module, store.gateway)
    assert gateway.service == store.service
    assert callable(module.health)
    assert importlib.import_module(store.client)  # the client library the entry blames is importable


def test_the_bundle_makes_each_gateway_once_and_typed_access_agrees(tmp_path):
    st = Stores(Settings.from_env(home=tmp_path / "home"))
    try:
        for attr in BY_ATTR:
            gw = st.gateway(attr)
            assert getattr(st, attr) is gw  # the property and the lookup give the same, kept object
            assert st.made(attr)
        with pytest.raises(KeyError, match="no store gateway called 'nope'"):
            st.gateway("nope")
    finally:
        st.close()  # nothing connected: the gateways make their clients on first use
    assert not any(st.made(a) for a in BY_ATTR)


def test_a_client_error_is_blamed_on_its_store_and_anything_else_on_nobody():
    assert store_of(psycopg.OperationalError("x")) == "PostgreSQL"
    import redis

    assert store_of(redis.ConnectionError("x")) == "Redis"
    assert store_of(ValueError("x")) is None
