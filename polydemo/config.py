"""One Settings object: ports, directories, credentials, runtime choice.

It is the single source of truth for every port and credential. The local runtime
reads it to start servers, the stores read it to connect, and the docker-compose.yml
is tested against it (tests/unit/test_compose.py) so the two cannot drift.

Every value can be set from the environment as ``POLYDEMO_<NAME>`` (for example
``POLYDEMO_POSTGRES_PORT=15432``); ``POLYDEMO_PORT_OFFSET`` shifts every default port
at once, which is how the test suite gets a stack of its own next to a running demo.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from polydemo.errors import PolydemoError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Service name -> default port. The order is the order services are listed everywhere.
DEFAULT_PORTS: dict[str, int] = {
    "postgres": 5432,
    "timeseries": 5433,
    "redis": 6379,
    "mongo": 27017,
    "neo4j": 7687,
    "kafka": 9092,
    "connect": 8083,
}
# Ports a service needs besides its main one (not a service of their own).
DEFAULT_EXTRA_PORTS: dict[str, int] = {
    "kafka_controller": 9093,
    # Cluster mode (``up --kafka-brokers 3``): brokers 2 and 3 and their controller listeners. Listed here
    # (not only when used) so .ci/run reserves them at every suite offset like the other ports.
    "kafka_2": 9094,
    "kafka_3": 9095,
    "kafka_controller_2": 9096,
    "kafka_controller_3": 9097,
    # The web gateway (`polydemo web`, docs/web.md): its API and its page on one port.
    "web": 4000,
    # The audience's listener (`polydemo web start --audience`): the join page and the audience's API only.
    "web_audience": 4001,
}

# How many Kafka brokers a stack can run: one (the laptop default) or a three-node KRaft cluster.
KAFKA_BROKER_CHOICES = (1, 3)
KAFKA_BROKERS_FILE = "kafka-brokers"  # in the home: what the last `up --kafka-brokers` chose

SERVICES: tuple[str, ...] = tuple(DEFAULT_PORTS)


def default_home() -> Path:
    """Run directory when neither --home nor POLYDEMO_HOME says: ``.polydemo/`` in a checkout,
    else the platform's user data directory (``~/.local/share/polydemo`` on Linux)."""
    from polydemo import resources

    if resources.is_checkout():
        return PROJECT_ROOT / ".polydemo"
    import platformdirs

    return platformdirs.user_data_path("polydemo")


def default_cache() -> Path:
    """Jars and the Mongo-wire server: ``~/.cache/polydemo`` in a checkout (as scripts/setup.sh always
    had it), else the platform's user cache directory (the same place on Linux unless XDG_CACHE_HOME)."""
    from polydemo import resources

    if resources.is_checkout():
        return Path.home() / ".cache" / "polydemo"
    import platformdirs

    return platformdirs.user_cache_path("polydemo")


RUNTIMES = ("auto", "local", "docker")


FETCH_WAIT_MS = 500
"""How long the broker may hold an empty fetch (librdkafka's default is 500). With ``fetch.min.bytes=1`` a
fetch returns as soon as one record is appended, so this bounds only how often an idle consumer asks again."""


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"POLYDEMO_{name.upper()}", default)


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise PolydemoError(
            f"POLYDEMO_{name.upper()}={raw!r} is not a whole number",
            hint=f"set POLYDEMO_{name.upper()} to a port number such as {default}",
        ) from None
    return value


def _kafka_brokers(home: Path) -> int:
    """POLYDEMO_KAFKA_BROKERS, else what the home's last ``up --kafka-brokers`` recorded, else 1."""
    raw = _env("kafka_brokers")
    source = "POLYDEMO_KAFKA_BROKERS"
    if raw in (None, ""):
        marker = home / KAFKA_BROKERS_FILE
        try:
            raw = marker.read_text().strip()
        except OSError:
            return 1
        source = str(marker)
    try:
        value = int(raw or "")
    except ValueError:
        value = 0
    if value not in KAFKA_BROKER_CHOICES:
        raise PolydemoError(
            f"{source}={raw!r}: Kafka runs 1 broker or a cluster of 3",
            hint="use 1 (the default) or 3 (`polydemo up --kafka-brokers 3`)",
        )
    return value


def _env_path(name: str) -> Path | None:
    raw = _env(name)
    return Path(raw) if raw else None


def compose_override_paths(raw: str) -> tuple[Path, ...]:
    """POLYDEMO_COMPOSE_OVERRIDE's files: os.pathsep-separated, each made absolute (empty parts skipped)."""
    return tuple(Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip())


def remember_kafka_brokers(home: Path, brokers: int) -> None:
    """Record the broker count a stack was brought up with, so later commands (status, down) see it."""
    home.mkdir(parents=True, exist_ok=True)
    (home / KAFKA_BROKERS_FILE).write_text(f"{brokers}\n")


@dataclass
class Settings:
    home: Path
    cache: Path
    ports: dict[str, int]
    extra_ports: dict[str, int]
    runtime: str = "auto"
    host: str = "127.0.0.1"
    # Credentials. Demo values, local loopback only; never printed (see Settings.__repr__).
    pg_user: str = "polydemo"
    pg_password: str = field(default="polydemo-local", repr=False)
    pg_db: str = "users"
    ts_db: str = "analytics"
    neo4j_user: str = "neo4j"
    neo4j_password: str = field(default="polydemo-local", repr=False)
    mongo_db: str = "social"
    connector_name: str = "polydemo-users"
    topic_prefix: str = "polydemo"
    slot_name: str = "polydemo_slot"
    publication: str = "polydemo_pub"
    start_timeout: float = 90.0
    kafka_brokers: int = 1
    stop_timeout: float = 20.0
    # Class-data-sharing archives for the JVMs (runtime/cds.py); POLYDEMO_CLASS_ARCHIVES=0 turns them off.
    class_archives: bool = True
    # ---- where the runtimes find their servers and compose files (read from the environment by from_env
    # only; runtime/services.py and runtime/docker read them here). None: the default place.
    java: str | None = None  # POLYDEMO_JAVA: a java binary (else $JAVA_HOME/bin/java, else `java` on the PATH)
    pg_bindir: Path | None = None  # POLYDEMO_PG_BINDIR: postgres and initdb (else /usr/lib/postgresql/15/bin)
    redis_server: str = "redis-server"  # POLYDEMO_REDIS_SERVER: the redis-server binary (name or path)
    mongo_server: Path | None = None  # POLYDEMO_MONGO_SERVER: the Mongo-wire server (else the one setup installs)
    # POLYDEMO_COMPOSE_OVERRIDE: compose files applied after docker-compose.yml (os.pathsep-separated). Unset
    # for users (the official images); the docker harness names tests/docker/compose.standins.yml.
    compose_overrides: tuple[Path, ...] = ()
    # POLYDEMO_FETCH_WAIT_MS: how long the broker may hold a projector's empty fetch (pipeline/loop.py's
    # consumer_config; bench/all.py measures librdkafka's default beside ours). Not a user setting.
    fetch_wait_ms: int = FETCH_WAIT_MS
    # POLYDEMO_SETUP_PYTHON: the interpreter setup makes the SecantusDB venv with (else polydemo's own).
    setup_python: str | None = None

    # ---- derived paths -------------------------------------------------
    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def archive_dir(self) -> Path:
        """The JVMs' class-data-sharing archives (runtime/cds.py): in the cache, shared by every home."""
        return self.cache / "cds"

    def data_dir(self, service: str) -> Path:
        return self.home / "data" / service

    def log_file(self, service: str) -> Path:
        return self.logs_dir / f"{service}.log"

    def pid_file(self, service: str) -> Path:
        return self.run_dir / f"{service}.pid"

    def port(self, service: str) -> int:
        if service in self.ports:
            return self.ports[service]
        return self.extra_ports[service.replace("-", "_")]

    # ---- connection strings ---------------------------------------------
    def pg_conninfo(self, service: str = "postgres") -> str:
        db = self.pg_db if service == "postgres" else self.ts_db
        return (
            f"host={self.host} port={self.port(service)} dbname={db} "
            f"user={self.pg_user} password={self.pg_password} connect_timeout=3"
        )

    # ---- Kafka brokers ----------------------------------------------------
    @property
    def cluster(self) -> bool:
        return self.kafka_brokers > 1

    def broker_service(self, node_id: int) -> str:
        """Broker 1 is the ``kafka`` service; brokers 2 and 3 (cluster mode) are ``kafka-2`` and ``kafka-3``."""
        return "kafka" if node_id == 1 else f"kafka-{node_id}"

    def broker_ids(self) -> list[int]:
        return list(range(1, self.kafka_brokers + 1))

    def broker_port(self, node_id: int) -> int:
        return self.ports["kafka"] if node_id == 1 else self.extra_ports[f"kafka_{node_id}"]

    def controller_port(self, node_id: int) -> int:
        key = "kafka_controller" if node_id == 1 else f"kafka_controller_{node_id}"
        return self.extra_ports[key]

    @property
    def replication_factor(self) -> int:
        """Every topic's (and every internal topic's) replication factor: 3 in cluster mode, else 1."""
        return 3 if self.cluster else 1

    @property
    def min_insync(self) -> int:
        """min.insync.replicas with acks=all: 2 of 3 in cluster mode (one broker may die, two may not)."""
        return 2 if self.cluster else 1

    @property
    def kafka_bootstrap(self) -> str:
        return ",".join(f"{self.host}:{self.broker_port(n)}" for n in self.broker_ids())

    @property
    def connect_url(self) -> str:
        return f"http://{self.host}:{self.ports['connect']}"

    @property
    def neo4j_uri(self) -> str:
        return f"bolt://{self.host}:{self.ports['neo4j']}"

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://{self.host}:{self.ports['mongo']}/?directConnection=true&serverSelectionTimeoutMS=2000"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.host}:{self.ports['redis']}/0"

    def with_overrides(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)

    def with_kafka_brokers(self, brokers: int) -> Settings:
        """These Settings for ``up --kafka-brokers N``. Refused (a PolydemoError) when N is not 1 or 3, or
        when this home's Kafka data was made for another broker count (its topics and quorum cannot be
        converted)."""
        if brokers not in KAFKA_BROKER_CHOICES:
            raise PolydemoError(
                f"--kafka-brokers {brokers}: Kafka runs 1 broker or a cluster of 3",
                hint="use --kafka-brokers 1 (the default) or --kafka-brokers 3",
            )
        formatted = (self.data_dir("kafka") / "log" / "meta.properties").exists()
        if formatted and brokers != self.kafka_brokers:
            raise PolydemoError(
                f"this home's Kafka was made with {self.kafka_brokers} broker(s), not {brokers}",
                hint=f"use another home (--home / POLYDEMO_HOME) for {brokers}, or `polydemo down` and remove "
                f"{self.home / 'data'} to start over",
            )
        return self.with_overrides(kafka_brokers=brokers)

    @classmethod
    def from_env(cls, home: Path | str | None = None, runtime: str | None = None) -> Settings:
        offset = _env_int("port_offset", 0)
        ports = {name: _env_int(f"{name}_port", default + offset) for name, default in DEFAULT_PORTS.items()}
        extra = {name: _env_int(f"{name}_port", default + offset) for name, default in DEFAULT_EXTRA_PORTS.items()}
        for name, value in {**ports, **extra}.items():
            if not 1 <= value <= 65535:
                raise PolydemoError(
                    f"port {value} for {name} is out of range",
                    hint=f"set POLYDEMO_{name.upper()}_PORT (or POLYDEMO_PORT_OFFSET) so ports stay within 1-65535",
                )
        home_path = Path(home or _env("home") or default_home()).expanduser().resolve()
        cache_path = Path(_env("cache") or default_cache()).expanduser().resolve()
        chosen = runtime or _env("runtime", "auto")
        if chosen not in RUNTIMES:
            raise PolydemoError(f"unknown runtime {chosen!r}", hint=f"use one of: {', '.join(RUNTIMES)}")
        brokers = _kafka_brokers(home_path)
        return cls(
            kafka_brokers=brokers,
            home=home_path,
            cache=cache_path,
            ports=ports,
            extra_ports=extra,
            runtime=chosen,
            pg_password=_env("pg_password") or "polydemo-local",
            neo4j_password=_env("neo4j_password") or "polydemo-local",
            start_timeout=float(_env("start_timeout") or "90"),
            class_archives=(_env("class_archives") or "1").strip().lower() not in ("0", "off", "no", "false"),
            java=_env("java") or None,
            pg_bindir=_env_path("pg_bindir"),
            redis_server=_env("redis_server") or "redis-server",
            mongo_server=_env_path("mongo_server"),
            compose_overrides=compose_override_paths(_env("compose_override") or ""),
            fetch_wait_ms=int(raw_wait) if (raw_wait := _env("fetch_wait_ms") or "").isdigit() else FETCH_WAIT_MS,
            setup_python=_env("setup_python") or None,
        )
