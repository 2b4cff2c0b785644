"""The wtf read model on the real stack: filled from history by a new consumer group, equal to the SQL on
Postgres, then kept equal live through a follow and an unfollow; removed, it leaves no group and no key."""

from __future__ import annotations

import time

import pytest

from polydemo.pipeline import lag, workers
from polydemo.pipeline.loop import group_id
from polydemo.pipeline.topics import topic_configs
from polydemo.stores import Stores

from .conftest import wait_for

pytestmark = pytest.mark.integration


def test_wtf_fills_from_history_and_equals_the_source_query_live(stack):
    settings = stack
    st = Stores(settings)
    try:
        for topic in topic_configs(settings):
            assert st.kafka.topic_config(topic)["cleanup.policy"] == "compact"
        ids = st.users.ids_like("%@example.org")[:3]
        assert len(ids) == 3
        a, b, c = ids
        st.users.follow(a, b)
        st.users.follow(b, c)
        workers.remove(settings, "wtf", st)
        t0 = time.monotonic()
        workers.add(settings, "wtf")
        wait_for(lambda: (lambda d, h: h > 0 and d >= h)(*lag.progress(settings, st.kafka, "wtf")), timeout=60)
        took = time.monotonic() - t0
        _, high = lag.progress(settings, st.kafka, "wtf")
        print(f"\n[wtf] caught up {high} follow changes in {took:.2f}s after add ({high / took:.0f} rows/s)")
        assert st.cache.who_to_follow() == st.users.who_to_follow() != {}
        st.users.unfollow(a, c)  # whether or not it was there
        st.users.follow(a, c)
        wait_for(lambda: st.cache.who_to_follow() == st.users.who_to_follow(), timeout=30)
        assert c not in st.cache.who_to_follow(a).get(a, {})  # a follows c now: not a suggestion
        st.users.unfollow(a, c)
        wait_for(lambda: st.cache.who_to_follow().get(a, {}).get(c, 0) >= 1, timeout=30)  # a -> b -> c again
        assert st.cache.who_to_follow() == st.users.who_to_follow()
        assert "wtf" in lag.projector_partitions(settings, st.kafka)  # shown while it runs
    finally:
        workers.remove(settings, "wtf", st)
        assert "wtf" not in lag.projector_partitions(settings, st.kafka)
        assert group_id(settings, "wtf") not in [g for g in _groups(st)]
        assert st.cache.who_to_follow() == {}
        st.close()


def _groups(st: Stores) -> list[str]:
    res = st.kafka.client.list_consumer_groups(request_timeout=5).result()
    return [g.group_id for g in res.valid]
