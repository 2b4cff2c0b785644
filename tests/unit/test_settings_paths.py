"""Where the runtimes find their servers: POLYDEMO_JAVA, POLYDEMO_PG_BINDIR, POLYDEMO_REDIS_SERVER and
POLYDEMO_MONGO_SERVER are read once, by Settings.from_env; runtime/services.py takes them from the Settings
it is given (so a Settings made in code, with no environment, is obeyed too)."""

from __future__ import annotations

from pathlib import Path

from polydemo.config import Settings
from polydemo.runtime import services


def test_defaults_when_the_environment_says_nothing(tmp_path):
    s = Settings.from_env(home=tmp_path)
    assert (s.java, s.pg_bindir, s.redis_server, s.mongo_server, s.compose_overrides) == (
        None,
        None,
        "redis-server",
        None,
        (),
    )
    assert services.pg_bindir(s) == Path("/usr/lib/postgresql/15/bin")
    assert services.mongo_server_bin(s) == s.cache / "secantusdb" / "venv" / "bin" / "secantusd-py"


def test_the_environment_is_read_into_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYDEMO_JAVA", "/opt/jdk/bin/java")
    monkeypatch.setenv("POLYDEMO_PG_BINDIR", "/opt/pg/bin")
    monkeypatch.setenv("POLYDEMO_REDIS_SERVER", "/opt/redis/redis-server")
    monkeypatch.setenv("POLYDEMO_MONGO_SERVER", "/opt/mongo/serve")
    s = Settings.from_env(home=tmp_path)
    assert s.java == "/opt/jdk/bin/java" and s.pg_bindir == Path("/opt/pg/bin")
    assert s.redis_server == "/opt/redis/redis-server" and s.mongo_server == Path("/opt/mongo/serve")


def test_the_services_use_what_the_settings_say(tmp_path, monkeypatch):
    for name in ("POLYDEMO_JAVA", "POLYDEMO_PG_BINDIR", "POLYDEMO_REDIS_SERVER", "POLYDEMO_MONGO_SERVER"):
        monkeypatch.setenv(name, "/from/the/environment")  # ignored: the Settings below say otherwise
    s = Settings.from_env(home=tmp_path).with_overrides(
        java=str(tmp_path / "java"),
        pg_bindir=tmp_path / "pg",
        redis_server=str(tmp_path / "redis-server"),
        mongo_server=tmp_path / "mongod",
    )
    specs = services.specs_for(s)
    assert services.java_bin(s) == str(tmp_path / "java")
    assert specs["redis"].argv(s)[0] == str(tmp_path / "redis-server")
    assert [p.what for p in specs["redis"].requirements(s)] == [f"`{tmp_path / 'redis-server'}` not found"]
    assert f"`{tmp_path / 'pg' / 'postgres'}` not found" in [p.what for p in specs["postgres"].requirements(s)]
    assert specs["mongo"].argv(s)[0] == str(tmp_path / "mongod")
    assert "Java not found" in [p.what for p in specs["kafka"].requirements(s)]  # no java at that path


def test_the_fetch_wait_and_the_setup_python_come_from_settings(tmp_path, monkeypatch):
    from polydemo import provision
    from polydemo.config import FETCH_WAIT_MS
    from polydemo.pipeline.loop import consumer_config

    monkeypatch.delenv("POLYDEMO_FETCH_WAIT_MS", raising=False)
    monkeypatch.delenv("POLYDEMO_SETUP_PYTHON", raising=False)
    plain = Settings.from_env(home=tmp_path)
    assert consumer_config(plain, "g")["fetch.wait.max.ms"] == FETCH_WAIT_MS
    assert provision.Setup(plain).python  # the running interpreter's base
    monkeypatch.setenv("POLYDEMO_FETCH_WAIT_MS", "20")
    monkeypatch.setenv("POLYDEMO_SETUP_PYTHON", "/opt/py/bin/python3")
    s = Settings.from_env(home=tmp_path)
    assert consumer_config(s, "g")["fetch.wait.max.ms"] == 20
    assert provision.Setup(s).python == "/opt/py/bin/python3"
    assert provision.Setup(s, python="/usr/bin/python3").python == "/usr/bin/python3"  # an explicit one wins
    monkeypatch.setenv("POLYDEMO_FETCH_WAIT_MS", "soon")  # not a number: the default, as before
    assert Settings.from_env(home=tmp_path).fetch_wait_ms == FETCH_WAIT_MS
