"""The compose override seam: official images unless POLYDEMO_COMPOSE_OVERRIDE says otherwise."""

from __future__ import annotations

import os

import pytest
import yaml

from polydemo.config import PROJECT_ROOT, SERVICES, Settings
from polydemo.errors import PolydemoError
from polydemo.runtime.docker import (
    CLUSTER_BROKERS,
    CLUSTER_FILE,
    CLUSTER_PROFILE,
    COMPOSE_FILE,
    DockerRuntime,
    compose_images,
    compose_services,
)

STANDINS = PROJECT_ROOT / "tests" / "docker" / "compose.standins.yml"


def test_no_override_unless_told():
    assert Settings.from_env().compose_overrides == ()
    rt = DockerRuntime(Settings.from_env())
    argv = rt.compose_argv("ps")
    assert argv.count("-f") == 1 and argv[argv.index("-f") + 1] == str(COMPOSE_FILE)


def test_override_files_are_passed_after_the_main_file_in_order(tmp_path, monkeypatch):
    a, b = tmp_path / "a.yml", tmp_path / "b.yml"
    monkeypatch.setenv("POLYDEMO_COMPOSE_OVERRIDE", f"{a}{os.pathsep}{os.pathsep}{b}")
    settings = Settings.from_env()
    assert settings.compose_overrides == (a.resolve(), b.resolve())
    argv = DockerRuntime(settings).compose_argv("up")
    given = [argv[i + 1] for i, x in enumerate(argv) if x == "-f"]
    assert given == [str(COMPOSE_FILE), str(a.resolve()), str(b.resolve())]


def test_a_missing_override_file_is_one_clear_error(tmp_path):
    rt = DockerRuntime(Settings.from_env(), overrides=[tmp_path / "nope.yml"])
    rt.compose.require_cli = lambda: None
    rt.engine.client = lambda: None
    rt.compose.require_version = lambda: None
    with pytest.raises(PolydemoError, match=r"POLYDEMO_COMPOSE_OVERRIDE names .*nope\.yml, which does not exist"):
        rt.preflight()


def test_later_files_win_for_image_and_pull_policy(tmp_path):
    extra = tmp_path / "extra.yml"
    extra.write_text("services:\n  redis:\n    image: localhost/x:1\n    pull_policy: never\n")
    merged = compose_services(COMPOSE_FILE, extra)
    assert merged["redis"]["image"] == "localhost/x:1" and merged["redis"]["pull_policy"] == "never"
    assert merged["redis"]["healthcheck"]  # everything else still comes from docker-compose.yml
    assert compose_images(COMPOSE_FILE)["redis"].startswith("redis:")


def test_the_standins_override_changes_only_image_and_pull_policy():
    doc = yaml.safe_load(STANDINS.read_text())
    assert set(doc) == {"services"} and set(doc["services"]) == {*SERVICES, *CLUSTER_BROKERS}
    for name, svc in doc["services"].items():
        if name in CLUSTER_BROKERS:
            # only in cluster mode (docker-compose.cluster.yml defines them; DockerRuntime passes the profile)
            assert set(svc) == {"image", "pull_policy", "profiles"} and svc["profiles"] == [CLUSTER_PROFILE], name
            assert svc["image"] == doc["services"]["kafka"]["image"]
        else:
            assert set(svc) == {"image", "pull_policy"}, name
        assert svc["image"].startswith("localhost/polydemo-standin-") and svc["pull_policy"] == "never"


def test_cluster_mode_applies_the_cluster_file_before_the_overrides_and_the_profile(tmp_path):
    a = tmp_path / "a.yml"
    rt = DockerRuntime(Settings.from_env().with_overrides(kafka_brokers=3), overrides=[a])
    argv = rt.compose_argv("up")
    given = [argv[i + 1] for i, x in enumerate(argv) if x == "-f"]
    assert given == [str(COMPOSE_FILE), str(CLUSTER_FILE), str(a)]
    assert argv[argv.index("--profile") + 1] == CLUSTER_PROFILE and argv.index("--profile") < argv.index("-p")
    single = DockerRuntime(Settings.from_env(), overrides=[a]).compose_argv("up")
    assert "--profile" not in single and str(CLUSTER_FILE) not in single


def test_with_the_standins_the_cluster_brokers_get_the_standin_image_only_in_cluster_mode():
    merged = compose_services(COMPOSE_FILE, CLUSTER_FILE, STANDINS)
    assert merged["kafka-2"]["image"] == merged["kafka"]["image"] == compose_images(STANDINS)["kafka"]
    assert merged["kafka-2"]["environment"]["KAFKA_NODE_ID"] == 2  # the rest from the cluster file
