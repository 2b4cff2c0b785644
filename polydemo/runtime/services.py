"""One ServiceSpec per server of the local runtime: what it needs, how to prepare it, its argv, its probe.

Everything here is data plus small functions; the machinery that starts, waits and stops lives in
``runtime/local.py``. Jars and the Mongo-wire server live in the cache directory that
``polydemo setup`` fills (``POLYDEMO_CACHE``, default ``~/.cache/polydemo``).
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import re
import shutil
import signal
import subprocess
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from polydemo import resources
from polydemo.config import Settings
from polydemo.runtime import cds
from polydemo.stores import Health, cache, connect, graph, kafka, mongo

# The pins of stack/*/pom.xml (tests/unit/test_pins.py fails if they drift apart).
KAFKA_VERSION = "4.3.1"
DEBEZIUM_VERSION = "3.7.0.Final"
SECANTUS_VERSION = "0.7.0b3"
SETUP_HINT = "run `polydemo setup` (in a checkout: `make setup`) to install it"


@dataclass
class Problem:
    what: str
    fix: str


@dataclass
class ServiceSpec:
    name: str
    engine: str
    role: str
    requirements: Callable[[Settings], list[Problem]]
    argv: Callable[[Settings], list[str]]
    probe: Callable[[Settings], Health]
    prepare: Callable[[Settings], None] = lambda s: None
    after_ready: Callable[[Settings], None] = lambda s: None
    depends_on: tuple[str, ...] = ()
    stop_signal: int = signal.SIGTERM
    user: Callable[[], str | None] = lambda: None
    env: Callable[[Settings], dict[str, str]] = lambda s: {}
    hint: str = ""
    extra_ports: tuple[str, ...] = ()
    start_timeout: float | None = None
    versions: dict[str, str] = field(default_factory=dict)
    # A JVM that starts faster with a class-data-sharing archive (runtime/cds.py).
    class_archive: bool = False


# ---------------------------------------------------------------- common checks


def _which(binary: str, fix: str) -> list[Problem]:
    return [] if shutil.which(binary) or Path(binary).is_file() else [Problem(f"`{binary}` not found", fix)]


def java_bin(settings: Settings) -> str:
    """Settings.java (POLYDEMO_JAVA), else $JAVA_HOME/bin/java, else `java` on the PATH."""
    if settings.java:
        return settings.java
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java") or "java"


def java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major


def _java_problems(settings: Settings, min_major: int = 17) -> list[Problem]:
    major = java_major(java_bin(settings))
    if major is None:
        return [
            Problem(
                "Java not found",
                "install OpenJDK 17: apt-get install -y openjdk-17-jre-headless "
                "(or set POLYDEMO_JAVA to a java binary)",
            )
        ]
    if major < min_major:
        return [
            Problem(
                f"Java {major} is too old (need {min_major}+)", "install OpenJDK 17 and set JAVA_HOME or POLYDEMO_JAVA"
            )
        ]
    return []


def _jars(directory: Path, what: str, pattern: str = "*.jar") -> list[Problem]:
    if not directory.is_dir() or not any(directory.glob(pattern)):
        return [Problem(f"{what} missing: no {pattern} in {directory}", SETUP_HINT)]
    return []


def _classpath(*dirs: Path) -> str:
    return ":".join(f"{d}/*" for d in dirs)


# ---------------------------------------------------------------- PostgreSQL (x2)

PG_MAJOR = "15"


def pg_bindir(settings: Settings) -> Path:
    """Settings.pg_bindir (POLYDEMO_PG_BINDIR), else Debian's place for PostgreSQL 15."""
    if settings.pg_bindir is not None:
        return settings.pg_bindir
    return Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")


def server_user() -> str | None:
    """PostgreSQL refuses to run as root; as root we run it as the ``postgres`` system user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
        return "postgres"
    except KeyError:
        return None


def _pg_requirements(settings: Settings) -> list[Problem]:
    fix = f"apt-get install -y postgresql-{PG_MAJOR} ({SETUP_HINT})"
    problems = _which(str(pg_bindir(settings) / "postgres"), fix) + _which(str(pg_bindir(settings) / "initdb"), fix)
    if os.geteuid() == 0 and server_user() is None:
        problems.append(Problem("running as root but there is no `postgres` user to run the server as", fix))
    return problems


def _chown_tree(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, _dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def _pg_prepare(service: str) -> Callable[[Settings], None]:
    def prepare(settings: Settings) -> None:
        data = settings.data_dir(service)
        if (data / "PG_VERSION").exists():
            return
        user = server_user()
        data.mkdir(parents=True, exist_ok=True)
        pwfile = data.parent / f".{service}.pw"
        pwfile.write_text(settings.pg_password + "\n")
        os.chmod(pwfile, 0o600)
        _chown_tree(data, user)
        if user:
            entry = pwd.getpwnam(user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        try:
            result = subprocess.run(
                [
                    str(pg_bindir(settings) / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    settings.pg_user,
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                capture_output=True,
                text=True,
                user=user,
                group=user,
                timeout=120,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with open(settings.log_file(service), "a") as log:
            log.write(result.stdout + result.stderr)
        if result.returncode != 0:
            shutil.rmtree(data, ignore_errors=True)  # leave nothing half-written
            raise RuntimeError(f"initdb failed: {result.stderr.strip().splitlines()[-1:]}")
        (data / "run").mkdir(exist_ok=True)
        _chown_tree(data / "run", user)

    return prepare


SLOT_WAL_CAP = "1GB"  # max_slot_wal_keep_size of the users database (the Debezium slot's WAL cap)


def _pg_argv(service: str) -> Callable[[Settings], list[str]]:
    def argv(settings: Settings) -> list[str]:
        data = settings.data_dir(service)
        conf = {
            "listen_addresses": settings.host,
            "port": settings.port(service),
            "unix_socket_directories": str(data / "run"),
            "wal_level": "logical",
            "max_replication_slots": 8,
            "max_wal_senders": 8,
            # Debezium latency: the WAL writer flushes every 10 ms instead of 200 ms (docs/pipeline.md, "CDC tuning").
            "wal_writer_delay": "10ms",
            # A stopped connector must not fill the disk: the slot keeps at most this much WAL, then
            # Postgres invalidates it (wal_status "lost") and `polydemo reset` recreates it.
            "max_slot_wal_keep_size": SLOT_WAL_CAP,
            # Commit times of the changes still in the slot: the dashboard shows the oldest one's age.
            "track_commit_timestamp": "on",
            "shared_buffers": "64MB",
            "max_connections": 100,
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        out = [str(pg_bindir(settings) / "postgres"), "-D", str(data)]
        for key, value in conf.items():
            out += ["-c", f"{key}={value}"]
        return out

    return argv


def _pg_probe(service: str) -> Callable[[Settings], Health]:
    def probe(settings: Settings) -> Health:
        # The maintenance database exists from initdb on; the app database is made in after_ready.
        from polydemo.stores import postgres

        return postgres.maintenance_health(settings, service)

    return probe


def _pg_after_ready(service: str) -> Callable[[Settings], None]:
    def after_ready(settings: Settings) -> None:
        from polydemo.stores import postgres

        postgres.ensure_database(settings, service)

    return after_ready


# ---------------------------------------------------------------- Redis


def _redis_argv(settings: Settings) -> list[str]:
    data = settings.data_dir("redis")
    data.mkdir(parents=True, exist_ok=True)
    return [
        settings.redis_server,
        "--bind",
        settings.host,
        "--port",
        str(settings.ports["redis"]),
        "--dir",
        str(data),
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
        "--appendonly",
        "yes",
        "--save",
        "",
        "--maxmemory",
        "256mb",
        "--maxmemory-policy",
        "noeviction",
        "--loglevel",
        "warning",
    ]


# ---------------------------------------------------------------- MongoDB wire (SecantusDB)


def mongo_server_bin(settings: Settings) -> Path:
    """Settings.mongo_server (POLYDEMO_MONGO_SERVER), else the SecantusDB venv that setup installs."""
    if settings.mongo_server is not None:
        return settings.mongo_server
    return settings.cache / "secantusdb" / "venv" / "bin" / "secantusd-py"


def _mongo_requirements(settings: Settings) -> list[Problem]:
    path = mongo_server_bin(settings)
    if not path.is_file():
        return [Problem(f"Mongo-wire server (SecantusDB) missing: {path}", SETUP_HINT)]
    return []


def _mongo_argv(settings: Settings) -> list[str]:
    data = settings.data_dir("mongo")
    data.mkdir(parents=True, exist_ok=True)
    # --config pins the (comment-only) config file: without it the server would read any secantusd.toml
    # found in ., ~/.secantus or /etc/secantus. No --standalone: as a one-node replica set it serves
    # change streams and transactions.
    return [
        str(mongo_server_bin(settings)),
        "--config",
        str(resources.require(resources.MONGO_CONFIG)),
        "--host",
        settings.host,
        "--port",
        str(settings.ports["mongo"]),
        "--storage-path",
        str(data),
        "--cache-size",
        "256M",
        "--log-level",
        "WARNING",
    ]


# ---------------------------------------------------------------- Neo4j (embedded, Bolt)


def neo4j_lib(settings: Settings) -> Path:
    return settings.cache / "neo4j" / "lib"


def _neo4j_requirements(settings: Settings) -> list[Problem]:
    problems = _java_problems(settings, 17) + _jars(neo4j_lib(settings), "Neo4j jars")
    launcher = neo4j_lib(settings) / "polydemo-neo4j.jar"
    if not launcher.is_file():
        problems.append(Problem(f"Neo4j launcher missing: {launcher}", SETUP_HINT))
    return problems


# The flags Neo4j's own launcher passes on Java 17 that embedded mode needs too (stack/neo4j/README.md).
NEO4J_JVM = [
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    # C1 only: Neo4j compiles a great deal while it starts, and the C2 compiler's share of that is what made it
    # the last service healthy (cold: 8.2 s -> 5.6 s alone, 15 s -> ? in a full `up` on 2 cores). At demo rates
    # the graph projector's MERGEs do not need C2 (bench/all.py, throughput).
    "-XX:TieredStopAtLevel=1",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
]


def _neo4j_argv(settings: Settings) -> list[str]:
    data = settings.data_dir("neo4j")
    data.mkdir(parents=True, exist_ok=True)
    return [
        java_bin(settings),
        *NEO4J_JVM,
        "-cp",
        _classpath(neo4j_lib(settings)),
        "dev.polydemo.Neo4jLauncher",
        "--home",
        str(data),
        "--host",
        settings.host,
        "--port",
        str(settings.ports["neo4j"]),
    ]


def _neo4j_env(settings: Settings) -> dict[str, str]:
    return {"NEO4J_PASSWORD": settings.neo4j_password}


# ---------------------------------------------------------------- Kafka (KRaft) + Connect


def kafka_libs(settings: Settings) -> Path:
    return settings.cache / "kafka" / "libs"


def kafka_plugins(settings: Settings) -> Path:
    return settings.cache / "kafka" / "plugins"


def _render(template: Path, target: Path, **values) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(template.read_text().format(**values))
    return target


def _kafka_requirements(settings: Settings) -> list[Problem]:
    return _java_problems(settings, 17) + _jars(kafka_libs(settings), "Kafka jars", "kafka_2.13-*.jar")


def _kafka_props(settings: Settings, node_id: int = 1) -> Path:
    data = settings.data_dir(settings.broker_service(node_id))
    voters = ",".join(f"{n}@{settings.host}:{settings.controller_port(n)}" for n in settings.broker_ids())
    return _render(
        resources.require(resources.KAFKA_SERVER),
        data / "server.properties",
        node_id=node_id,
        voters=voters,
        kafka_port=settings.broker_port(node_id),
        controller_port=settings.controller_port(node_id),
        log_dirs=data / "log",
        rf=settings.replication_factor,
        min_isr=settings.min_insync,
    )


# The storage format is a JVM that lives a second: C1 only and Serial GC halve it (2.0 s -> 1.0 s on 2 busy
# cores), and it is on the critical path of a cold `up` (format -> broker -> Connect -> connector).
FORMAT_JVM = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx128m"]


def _shared_cluster_id(settings: Settings) -> str:
    """One KRaft cluster id for every node of this home (made once; all three brokers format with it).

    The three nodes are prepared in parallel, so the file is created exclusively: the first writer's id
    is the one every node reads (two ids would make the quorum refuse the third node with
    INCONSISTENT_CLUSTER_ID, as happened on a cold `up --kafka-brokers 3`)."""
    path = settings.home / "data" / "kafka-cluster-id"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _CLUSTER_ID_LOCK:
        if not path.is_file():
            tmp = path.with_name(f".kafka-cluster-id.{os.getpid()}")
            tmp.write_text(_kafka_cluster_id() + "\n")
            try:
                os.link(tmp, path)  # atomic, and fails if another process made it first
            except FileExistsError:
                pass  # another process made it first: theirs is the cluster id, read below
            finally:
                tmp.unlink(missing_ok=True)
        return path.read_text().strip()


_CLUSTER_ID_LOCK = threading.Lock()


def _kafka_prepare_node(node_id: int) -> Callable[[Settings], None]:
    def prepare(settings: Settings) -> None:
        service = settings.broker_service(node_id)
        props = _kafka_props(settings, node_id)
        log_dir = settings.data_dir(service) / "log"
        if (log_dir / "meta.properties").exists():
            return
        cluster_id = _shared_cluster_id(settings) if settings.cluster else _kafka_cluster_id()
        argv = [
            java_bin(settings),
            *FORMAT_JVM,
            "-cp",
            _classpath(kafka_libs(settings)),
            *_log4j(settings, "kafka"),
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(props),
        ]
        archive = None
        if settings.class_archives:
            argv, archive = cds.apply(settings.archive_dir, argv)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if archive is not None:
            cds.settle_plan(archive, clean=result.returncode == 0)
        with open(settings.log_file(service), "a") as log:
            log.write(result.stdout + result.stderr)
        if result.returncode != 0:
            shutil.rmtree(log_dir, ignore_errors=True)
            raise RuntimeError(f"kafka storage format failed: {(result.stderr or result.stdout).strip()[-300:]}")

    return prepare


_kafka_prepare = _kafka_prepare_node(1)


def _kafka_cluster_id() -> str:
    # A KRaft cluster id is a base64url (no padding) 16-byte UUID, as `kafka-storage random-uuid` makes;
    # one starting with "-" would be read as a flag.
    import base64

    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _log4j(settings: Settings, service: str) -> list[str]:
    return [f"-Dlog4j2.configurationFile={resources.require(resources.KAFKA_LOG4J)}"]


# Small-footprint JVM flags measured on 2 cores: Serial GC and a 256 MB heap keep the broker at
# ~340 MB RSS and Connect at ~185 MB (G1 with 512 MB: 325-385 / 210 MB) with no latency cost at demo rates.
KAFKA_JVM = [
    "-Xms64m",
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:MaxMetaspaceSize=128m",
    "-Xss512k",
    "-XX:ReservedCodeCacheSize=64m",
    "-Djava.awt.headless=true",
]


def _kafka_argv_node(node_id: int) -> Callable[[Settings], list[str]]:
    def argv(settings: Settings) -> list[str]:
        props = settings.data_dir(settings.broker_service(node_id)) / "server.properties"
        return [
            java_bin(settings),
            *KAFKA_JVM,
            *_log4j(settings, "kafka"),
            "-cp",
            _classpath(kafka_libs(settings)),
            "kafka.Kafka",
            str(props),
        ]

    return argv


_kafka_argv = _kafka_argv_node(1)


def _connect_requirements(settings: Settings) -> list[Problem]:
    problems = _java_problems(settings, 17) + _jars(kafka_libs(settings), "Kafka Connect jars", "connect-runtime-*.jar")
    plugin = kafka_plugins(settings) / "debezium-connector-postgres"
    problems += _jars(plugin, "Debezium PostgreSQL connector plugin", "debezium-connector-postgres-*.jar")
    return problems


def _connect_prepare(settings: Settings) -> None:
    data = settings.data_dir("connect")
    _render(
        resources.require(resources.CONNECT_WORKER),
        data / "connect-distributed.properties",
        bootstrap=settings.kafka_bootstrap,
        connect_port=settings.ports["connect"],
        plugins_dir=kafka_plugins(settings),
        group_id=f"{settings.topic_prefix}-connect",
        rf=settings.replication_factor,
    )


def _connect_argv(settings: Settings) -> list[str]:
    props = settings.data_dir("connect") / "connect-distributed.properties"
    return [
        java_bin(settings),
        *KAFKA_JVM,
        *_log4j(settings, "connect"),
        "-cp",
        _classpath(kafka_libs(settings)),
        "org.apache.kafka.connect.cli.ConnectDistributed",
        str(props),
    ]


# ---------------------------------------------------------------- the table

SPECS: dict[str, ServiceSpec] = {
    "postgres": ServiceSpec(
        name="postgres",
        engine=f"PostgreSQL {PG_MAJOR}",
        role="users, follows (system of record)",
        requirements=_pg_requirements,
        prepare=_pg_prepare("postgres"),
        argv=_pg_argv("postgres"),
        probe=_pg_probe("postgres"),
        after_ready=_pg_after_ready("postgres"),
        stop_signal=signal.SIGINT,  # "fast" shutdown; SIGTERM would wait for every client to leave
        user=server_user,
        hint="check the log; a stale postmaster.pid after a crash is removed by PostgreSQL itself",
    ),
    "timeseries": ServiceSpec(
        name="timeseries",
        engine=f"PostgreSQL {PG_MAJOR}, partitioned (timescaledb not installed)",
        role="analytics events (time-series)",
        requirements=_pg_requirements,
        prepare=_pg_prepare("timeseries"),
        argv=_pg_argv("timeseries"),
        probe=_pg_probe("timeseries"),
        after_ready=_pg_after_ready("timeseries"),
        stop_signal=signal.SIGINT,
        user=server_user,
        hint="check the log",
    ),
    "redis": ServiceSpec(
        name="redis",
        engine="Redis",
        role="profile cache, follower counts",
        requirements=lambda s: _which(s.redis_server, f"apt-get install -y redis-server ({SETUP_HINT})"),
        argv=_redis_argv,
        probe=cache.health,
    ),
    "mongo": ServiceSpec(
        name="mongo",
        engine=f"SecantusDB {SECANTUS_VERSION} (MongoDB wire protocol)",
        role="posts (system of record)",
        requirements=_mongo_requirements,
        argv=_mongo_argv,
        probe=mongo.health,
        hint="only one process may open the storage directory: is another polydemo using it?",
    ),
    "neo4j": ServiceSpec(
        name="neo4j",
        class_archive=True,
        engine="Neo4j Community (embedded, Bolt)",
        role="social graph (read model)",
        requirements=_neo4j_requirements,
        argv=_neo4j_argv,
        probe=graph.health,
        env=_neo4j_env,
        hint="Neo4j needs Java 17 and the jars from `make setup`",
    ),
    "kafka": ServiceSpec(
        name="kafka",
        class_archive=True,
        engine=f"Apache Kafka {KAFKA_VERSION} (KRaft)",
        role="event log",
        requirements=_kafka_requirements,
        prepare=_kafka_prepare,
        argv=_kafka_argv,
        probe=lambda s: kafka.broker_health(s, 1) if s.cluster else kafka.health(s),
        extra_ports=("kafka_controller",),
        hint="if the log mentions the cluster id, remove the kafka data dir (polydemo reset) and retry",
    ),
    "connect": ServiceSpec(
        name="connect",
        class_archive=True,
        engine=f"Kafka Connect {KAFKA_VERSION} + Debezium {DEBEZIUM_VERSION.removesuffix('.Final')}",
        role="CDC (Postgres -> Kafka)",
        requirements=_connect_requirements,
        prepare=_connect_prepare,
        argv=_connect_argv,
        probe=connect.health,
        depends_on=("kafka",),
        start_timeout=120.0,
        hint="Connect needs Kafka healthy first; see the kafka log too",
    ),
}


def _broker_probe(node_id: int) -> Callable[[Settings], Health]:
    return lambda s: kafka.broker_health(s, node_id)


def specs_for(settings: Settings) -> dict[str, ServiceSpec]:
    """The services of this stack: SPECS, plus brokers ``kafka-2`` and ``kafka-3`` in cluster mode (after
    ``kafka``, with Connect waiting for all three)."""
    if not settings.cluster:
        return SPECS
    out: dict[str, ServiceSpec] = {}
    extra = [settings.broker_service(n) for n in settings.broker_ids() if n > 1]
    for name, spec in SPECS.items():
        if name == "connect":
            spec = dataclasses.replace(spec, depends_on=(*spec.depends_on, *extra))
        out[name] = spec
        if name == "kafka":
            for n in settings.broker_ids()[1:]:
                out[settings.broker_service(n)] = dataclasses.replace(
                    spec,
                    name=settings.broker_service(n),
                    role=f"event log (broker {n} of {settings.kafka_brokers})",
                    prepare=_kafka_prepare_node(n),
                    argv=_kafka_argv_node(n),
                    probe=_broker_probe(n),
                    extra_ports=(f"kafka_controller_{n}",),
                )
    out["kafka"] = dataclasses.replace(out["kafka"], role=f"event log (broker 1 of {settings.kafka_brokers})")
    return out
