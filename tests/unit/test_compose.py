"""docker-compose.yml against Settings (the single source of truth) and against the local runtime's pins.

No Docker engine and no Compose binary needed: the file is read with yaml.safe_load and checked as data.
"""

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from polydemo.config import DEFAULT_PORTS, SERVICES, Settings
from polydemo.runtime import services as local_services
from polydemo.runtime.docker import COMPOSE_FILE, CONNECTOR_OVERRIDES, DockerRuntime

ROOT = Path(__file__).resolve().parents[2]
DOC = yaml.safe_load(COMPOSE_FILE.read_text())
SVCS = DOC["services"]
DEFAULTS = {f.name: f.default for f in dataclasses.fields(Settings) if f.default is not dataclasses.MISSING}
# An exact release: x.y.z, optionally with a qualifier (.Final, -pg15, -community). Never a bare major/minor.
EXACT_TAG = re.compile(r"^\d+\.\d+\.\d+(?:[.-][A-Za-z0-9]+)*$")
# PostgreSQL numbers releases major.minor since 10: 15.18 is exact, 15 floats.
TWO_PART = {"postgres"}
EXACT_TWO_PART = re.compile(r"^\d{2,}\.\d+(?:-[a-z0-9]+)?$")
# "${VAR:-default}" as Compose interpolates it (the default is what a plain `docker compose up` gets).
INTERP = re.compile(r"\$\{(\w+):-([^}]*)\}")


def resolve(value, env=None):
    """Interpolate like Compose: ${VAR:-default} -> env[VAR] or default."""
    env = env or {}
    return INTERP.sub(lambda m: env.get(m.group(1)) or m.group(2), str(value))


def env_of(service: str) -> dict:
    env = SVCS[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: resolve(v) for k, v in env.items()}


def healthcheck_text(service: str) -> str:
    test = SVCS[service]["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(str(t) for t in test)


def published(service: str):
    """(host ip, host port expression, container port) of each published port."""
    out = []
    for spec in SVCS[service].get("ports", []):
        assert isinstance(spec, str), f"{service}: use the short 'ip:host:container' form"
        m = re.fullmatch(r"(\d+\.\d+\.\d+\.\d+):(.+):(\d+)", spec)
        assert m, f"{service}: port {spec!r} must name the host ip"
        out.append((m.group(1), m.group(2), int(m.group(3))))
    return out


# ---------------------------------------------------------------- shape


def test_file_parses_and_has_exactly_the_seven_services():
    assert isinstance(DOC, dict) and DOC.get("name") == "polydemo"
    assert "version" not in DOC  # obsolete key; Compose v2 warns about it
    assert set(SVCS) == set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_image_is_pinned_to_an_exact_tag(service):
    image = SVCS[service]["image"]
    assert "@" not in image or image.count(":") >= 2
    name, _, tag = image.rpartition(":")
    assert name and "/" not in tag, f"{service}: image {image!r} has no tag"
    assert "latest" not in tag.lower(), f"{service}: {image!r} floats"
    pattern = EXACT_TWO_PART if name in TWO_PART else EXACT_TAG
    assert pattern.match(tag), f"{service}: {image!r} is not an exact release tag"


@pytest.mark.parametrize(
    "image",
    [
        "postgres:15",
        "redis:7",
        "redis:7.4",
        "mongo:7.0",
        "neo4j:5-community",
        "neo4j:5.26-community",
        "apache/kafka:latest",
        "timescale/timescaledb:latest-pg15",
        "quay.io/debezium/connect:3.7",
        "postgres:latest",
    ],
)
def test_the_pin_rule_rejects_floating_tags(image):
    name, _, tag = image.rpartition(":")
    pattern = EXACT_TWO_PART if name in TWO_PART else EXACT_TAG
    assert "latest" in tag or not pattern.match(tag)


@pytest.mark.parametrize("service", SERVICES)
def test_every_image_has_a_comment_saying_why(service):
    lines = COMPOSE_FILE.read_text().splitlines()
    idx = next(i for i, ln in enumerate(lines) if ln.strip() == f"image: {SVCS[service]['image']}")
    assert lines[idx - 1].strip().startswith("#"), f"{service}: no comment above its image line"


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_a_real_healthcheck(service):
    hc = SVCS[service].get("healthcheck")
    assert hc and not hc.get("disable"), f"{service} has no healthcheck"
    test = hc["test"]
    assert (test[0] in ("CMD", "CMD-SHELL")) if isinstance(test, list) else bool(test.strip())
    for key in ("interval", "timeout", "retries"):
        assert key in hc, f"{service} healthcheck lacks {key}"


def test_healthchecks_test_readiness_not_just_a_process():
    assert re.search(r"pg_isready .*-U polydemo .*-d users", healthcheck_text("postgres"))
    assert re.search(r"pg_isready .*-U polydemo .*-d analytics", healthcheck_text("timeseries"))
    assert "-h 127.0.0.1" in healthcheck_text("postgres")  # TCP: not ready during init scripts
    assert "redis-cli ping" in healthcheck_text("redis")
    mongo = healthcheck_text("mongo")
    assert "mongosh" in mongo and "ping" in mongo and "rs.initiate" in mongo and "isWritablePrimary" in mongo
    neo4j = healthcheck_text("neo4j")
    assert "cypher-shell" in neo4j and "RETURN 1" in neo4j
    assert "kafka-broker-api-versions" in healthcheck_text("kafka")


def test_connect_healthcheck_hits_connectors_not_root():
    text = healthcheck_text("connect")
    urls = re.findall(r"https?://[^\s\"']+", text)
    assert urls and all(u.rstrip("/").endswith("/connectors") for u in urls), urls
    assert "curl" in text and "-f" in text


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_named_volumes_and_a_memory_limit(service):
    declared = set(DOC.get("volumes") or {})
    named = [v.split(":")[0] for v in SVCS[service].get("volumes", []) if not v.startswith((".", "/"))]
    assert named, f"{service} keeps its data in no named volume"
    assert set(named) <= declared, f"{service}: undeclared volumes {set(named) - declared}"
    assert "mem_limit" in SVCS[service], f"{service} has no mem_limit"


def _mib(value) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg]?)b?", str(value).strip().lower())
    assert m, value
    return float(m.group(1)) * {"k": 1 / 1024, "m": 1, "g": 1024, "": 1 / 1024 / 1024}[m.group(2)]


def test_memory_limits_fit_an_8gb_laptop():
    total = sum(_mib(SVCS[s]["mem_limit"]) for s in SERVICES)
    assert total <= 4.5 * 1024, f"mem_limits add up to {total:.0f} MiB"


def test_no_fixed_container_names_and_no_restart_policy():
    for name, svc in SVCS.items():
        assert "container_name" not in svc, f"{name}: container_name would clash between checkouts"
        # drills stop/kill a container and expect it to stay down until started again
        assert svc.get("restart", "no") == "no", f"{name}: a restart policy would undo the drills"


# ---------------------------------------------------------------- ports


@pytest.mark.parametrize("service", SERVICES)
def test_host_port_equals_settings_default_and_is_loopback_only(service):
    ports = published(service)
    assert len(ports) == 1, f"{service} publishes {len(ports)} ports; polydemo knows one per service"
    ip, host, _container = ports[0]
    assert ip == "127.0.0.1"
    assert int(resolve(host)) == DEFAULT_PORTS[service], f"{service}: compose {resolve(host)} != config.DEFAULT_PORTS"


@pytest.mark.parametrize("service", SERVICES)
def test_host_port_follows_the_same_variable_settings_reads(service, monkeypatch):
    """Settings reads POLYDEMO_<SERVICE>_PORT; the compose file must interpolate that very name."""
    _ip, host, _c = published(service)[0]
    var = f"POLYDEMO_{service.upper()}_PORT"
    assert INTERP.fullmatch(host) and INTERP.fullmatch(host).group(1) == var
    monkeypatch.setenv(var, "23456")
    settings = Settings.from_env(home="/tmp/polydemo-test-home")
    assert settings.ports[service] == 23456
    assert DockerRuntime(settings).compose_env()[var] == "23456"


def test_docker_runtime_supplies_every_variable_the_file_uses(monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("POLYDEMO_"):
            monkeypatch.delenv(key)
    values = " ".join(_strings(DOC))
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", values))  # $$ is a literal $ for the container
    assert used, "the file interpolates nothing?"
    supplied = DockerRuntime(Settings.from_env(home="/tmp/polydemo-test-home")).compose_env()
    assert used <= set(supplied), used - set(supplied)
    # and with every default in force, what it supplies is what the file falls back to
    defaults = dict(INTERP.findall(values))
    assert {k: supplied[k] for k in defaults} == defaults


def _strings(node):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def test_kafka_advertises_the_published_host_port():
    env = SVCS["kafka"]["environment"]
    _ip, host, container = published("kafka")[0]
    advertised = env["KAFKA_ADVERTISED_LISTENERS"]
    m = re.search(r"HOST://127\.0\.0\.1:(\$\{[^}]+\})", advertised)
    assert m and m.group(1) == host, advertised
    assert f"HOST://:{container}" in env["KAFKA_LISTENERS"]


# ---------------------------------------------------------------- credentials, databases, CDC


def test_postgres_credentials_and_database_match_settings():
    env = env_of("postgres")
    assert env["POSTGRES_USER"] == DEFAULTS["pg_user"] == "polydemo"
    assert env["POSTGRES_PASSWORD"] == DEFAULTS["pg_password"] == "polydemo-local"
    assert env["POSTGRES_DB"] == DEFAULTS["pg_db"] == "users"


def test_timeseries_credentials_and_database_match_settings():
    env = env_of("timeseries")
    assert env["POSTGRES_USER"] == DEFAULTS["pg_user"]
    assert env["POSTGRES_PASSWORD"] == DEFAULTS["pg_password"]
    assert env["POSTGRES_DB"] == DEFAULTS["ts_db"] == "analytics"


def test_neo4j_auth_matches_settings():
    assert env_of("neo4j")["NEO4J_AUTH"] == f"{DEFAULTS['neo4j_user']}/{DEFAULTS['neo4j_password']}"


def test_postgres_runs_with_logical_decoding():
    cmd = SVCS["postgres"]["command"]
    cmd = cmd if isinstance(cmd, str) else " ".join(cmd)
    for flag in ("wal_level=logical", "max_replication_slots=8", "max_wal_senders=8", "wal_writer_delay=10ms"):
        assert f"-c {flag}" in cmd


def test_mongo_is_a_single_node_replica_set():
    cmd = SVCS["mongo"]["command"]
    cmd = cmd if isinstance(cmd, str) else " ".join(cmd)
    assert "--replSet rs0" in cmd and "--bind_ip_all" in cmd
    assert 'rs.initiate({_id: "rs0"' in healthcheck_text("mongo")


@pytest.mark.parametrize("service,target", [("postgres", "database.sql"), ("timeseries", "TimeScaleDB.sql")])
def test_mounted_init_files_exist(service, target):
    binds = [v for v in SVCS[service]["volumes"] if v.startswith("./")]
    assert any(v.split(":")[0] == f"./{target}" and "/docker-entrypoint-initdb.d/" in v for v in binds), binds
    for v in binds:
        assert (COMPOSE_FILE.parent / v.split(":")[0]).is_file(), v


def test_every_bind_mount_exists():
    for name, svc in SVCS.items():
        for v in svc.get("volumes", []):
            if v.startswith("./"):
                assert (COMPOSE_FILE.parent / v.split(":")[0]).exists(), f"{name}: {v}"


def test_connect_worker_config():
    env = env_of("connect")
    assert env["GROUP_ID"] == f"{DEFAULTS['topic_prefix']}-connect"
    for kind in ("CONFIG", "OFFSET", "STATUS"):
        assert env[f"{kind}_STORAGE_TOPIC"].startswith(env["GROUP_ID"] + "-")
    assert env["KEY_CONVERTER"] == env["VALUE_CONVERTER"] == "org.apache.kafka.connect.json.JsonConverter"
    assert env["CONNECT_KEY_CONVERTER_SCHEMAS_ENABLE"] == env["CONNECT_VALUE_CONVERTER_SCHEMAS_ENABLE"] == "false"
    assert env["CONNECT_CONNECTOR_CLIENT_CONFIG_OVERRIDE_POLICY"] == "All"
    # Connect reaches Kafka on the internal listener, by service name
    host, port = env["BOOTSTRAP_SERVERS"].split(":")
    assert host == "kafka" and f"PLAINTEXT://kafka:{port}" in SVCS["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert SVCS["connect"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert published("connect")[0][2] == 8083


def test_connector_overrides_name_the_postgres_service_and_its_container_port():
    assert DockerRuntime.connector_overrides() == {"database.hostname": "postgres", "database.port": "5432"}
    assert CONNECTOR_OVERRIDES["database.hostname"] in SVCS
    assert published("postgres")[0][2] == int(CONNECTOR_OVERRIDES["database.port"])
    # and the compose file says so in words, for whoever edits the connector registration
    text = COMPOSE_FILE.read_text()
    assert "database.hostname=postgres" in text and "database.port=5432" in text


# ---------------------------------------------------------------- the same software as the local runtime


def test_kafka_and_debezium_images_match_the_local_pins():
    assert SVCS["kafka"]["image"] == f"apache/kafka:{local_services.KAFKA_VERSION}"
    assert SVCS["connect"]["image"] == f"quay.io/debezium/connect:{local_services.DEBEZIUM_VERSION}"


def test_postgres_majors_match_the_local_runtime():
    major = local_services.PG_MAJOR
    assert SVCS["postgres"]["image"].split(":")[1].split(".")[0] == major
    assert SVCS["timeseries"]["image"].endswith(f"-pg{major}")


def test_neo4j_image_matches_the_embedded_version():
    pom = (ROOT / "stack" / "neo4j" / "pom.xml").read_text()
    version = re.search(r"<neo4j.version>([^<]+)</neo4j.version>", pom).group(1)
    assert SVCS["neo4j"]["image"] == f"neo4j:{version}-community"
