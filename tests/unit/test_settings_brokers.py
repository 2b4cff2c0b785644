"""``up --kafka-brokers N`` through Settings.with_kafka_brokers (a new Settings, or one clear refusal) and
AppState.use_kafka_brokers (the command's Settings, the only place they are replaced)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from polydemo.cli import app
from polydemo.cli.context import AppState
from polydemo.config import Settings
from polydemo.errors import PolydemoError


def test_with_kafka_brokers_is_a_new_settings(tmp_path):
    one = Settings.from_env(home=tmp_path)
    three = one.with_kafka_brokers(3)
    assert (one.kafka_brokers, three.kafka_brokers) == (1, 3) and three.cluster and three.home == one.home
    with pytest.raises(PolydemoError, match="--kafka-brokers 2: Kafka runs 1 broker or a cluster of 3"):
        one.with_kafka_brokers(2)


def test_a_home_made_for_one_broker_is_not_turned_into_a_cluster(tmp_path):
    one = Settings.from_env(home=tmp_path)
    meta = one.data_dir("kafka") / "log" / "meta.properties"
    meta.parent.mkdir(parents=True)
    meta.write_text("node.id=1\n")
    assert one.with_kafka_brokers(1).kafka_brokers == 1
    with pytest.raises(PolydemoError, match=r"made with 1 broker\(s\), not 3") as exc:
        one.with_kafka_brokers(3)
    assert str(tmp_path / "data") in (exc.value.hint or "")


def test_app_state_uses_the_new_settings(tmp_path):
    st = AppState(home=tmp_path)
    before = st.settings
    st.use_kafka_brokers(3)
    assert st.settings.kafka_brokers == 3 and before.kafka_brokers == 1
    with pytest.raises(PolydemoError):
        st.use_kafka_brokers(5)
    assert st.settings.kafka_brokers == 3


def test_cli_up_refuses_a_bad_broker_count_before_anything_starts(tmp_path):
    res = CliRunner().invoke(app, ["--home", str(tmp_path), "--runtime", "local", "up", "--kafka-brokers", "2"])
    assert res.exit_code != 0 and "Kafka runs 1 broker or a cluster of 3" in res.output
    assert not (tmp_path / "kafka-brokers").exists()
