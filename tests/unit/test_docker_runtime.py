"""The docker runtime without a Docker engine: runtime choice, preflight messages, the CLI's one clear
line, and up/down/status/drills driven through fakes of the two seams (the `docker compose`
subprocess and the Docker SDK client)."""

import os
import stat

import pytest
from typer.testing import CliRunner

from polydemo.cli import app
from polydemo.config import SERVICES, Settings
from polydemo.errors import PolydemoError, PortInUseError, ServiceStartError
from polydemo.runtime import docker as docker_rt
from polydemo.runtime import get_runtime, resolve_runtime_name
from polydemo.runtime.docker import ComposeResult, DockerRuntime
from polydemo.runtime.docker import runtime as docker_runtime
from polydemo.stores import Health


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith("POLYDEMO_") or key in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("POLYDEMO_HOME", str(tmp_path / "home"))
    # A socket path that does not exist: nothing can answer there.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine/docker.sock")


def stub_docker(tmp_path, compose: str | None = "2.29.7") -> str:
    """A directory holding a fake `docker` CLI: `compose version` prints ``compose`` (or fails if None)."""
    bindir = tmp_path / "stubbin"
    bindir.mkdir(exist_ok=True)
    script = bindir / "docker"
    if compose is None:
        compose_branch = 'echo "docker: unknown command: docker compose" >&2; exit 1'
    else:
        compose_branch = f'echo "{compose}"; exit 0'
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "compose" ] && [ "$2" = "version" ]; then {compose_branch}; fi\n'
        'if [ "$1" = "context" ]; then echo "unix:///var/run/docker.sock"; exit 0; fi\n'
        'echo "stub docker: $*" >&2; exit 1\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(bindir)


# ---------------------------------------------------------------- runtime selection


def test_auto_selects_local_when_docker_host_socket_does_not_exist():
    s = Settings.from_env()
    assert s.runtime == "auto"
    assert resolve_runtime_name(s) == "local"
    assert get_runtime(s).name == "local"


def test_forced_docker_runtime_is_docker_even_without_an_engine(monkeypatch):
    assert resolve_runtime_name(Settings.from_env(runtime="docker")) == "docker"
    monkeypatch.setenv("POLYDEMO_RUNTIME", "docker")
    s = Settings.from_env()
    assert resolve_runtime_name(s) == "docker"
    rt = get_runtime(s)  # building it needs no engine
    assert isinstance(rt, DockerRuntime) and rt.name == "docker"


def test_docker_runtime_implements_the_whole_interface():
    assert DockerRuntime.__abstractmethods__ == frozenset()


# ---------------------------------------------------------------- preflight messages


def test_no_engine_is_one_clear_error_with_the_local_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", stub_docker(tmp_path))
    with pytest.raises(PolydemoError) as exc:
        DockerRuntime(Settings.from_env(runtime="docker")).preflight()
    err = exc.value
    assert "engine is not running" in err.message
    assert str(tmp_path / "no-engine" / "docker.sock") in err.message
    assert "--runtime local" in err.hint and "Docker Desktop" in err.hint
    assert "\n" not in err.message and err.details is None


def test_docker_not_installed(monkeypatch, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(PolydemoError) as exc:
        DockerRuntime(Settings.from_env(runtime="docker")).preflight()
    assert "not installed" in exc.value.message and "docker" in exc.value.message
    assert "--runtime local" in exc.value.hint


class FakeImages:
    def __init__(self, present=True):
        self.present = present

    def get(self, ref):
        if not self.present:
            raise LookupError(f"no such image: {ref}")
        return object()


class FakeContainers:
    def __init__(self, items):
        self.items = items

    def list(self, all=False, filters=None):
        return list(self.items)


class FakeClient:
    def __init__(self, containers=(), images_present=True):
        self.images = FakeImages(images_present)
        self.containers = FakeContainers(containers)

    def ping(self):
        return True


def test_compose_plugin_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", stub_docker(tmp_path, compose=None))
    rt = DockerRuntime(Settings.from_env(runtime="docker"))
    rt.engine._client = FakeClient()  # an engine that answers
    with pytest.raises(PolydemoError) as exc:
        rt.preflight()
    assert "Compose v2 is not installed" in exc.value.message
    assert "--runtime local" in exc.value.hint


def test_compose_too_old_for_wait_timeout(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", stub_docker(tmp_path, compose="2.12.2"))
    rt = DockerRuntime(Settings.from_env(runtime="docker"))
    rt.engine._client = FakeClient()
    with pytest.raises(PolydemoError, match=r"Compose 2\.12\.2 is too old"):
        rt.preflight()


def test_preflight_passes_with_engine_and_compose(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", stub_docker(tmp_path, compose="v2.40.3-desktop.1"))
    rt = DockerRuntime(Settings.from_env(runtime="docker"))
    rt.engine._client = FakeClient()
    rt.preflight()


# ---------------------------------------------------------------- the CLI: one clear line, no traceback


def test_cli_status_without_engine_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", stub_docker(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["--runtime", "docker", "status"])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    out = result.output
    assert "Traceback" not in out
    errors = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Docker engine is not running" in errors[0], out
    assert "--runtime local" in out


def test_cli_status_without_docker_installed(monkeypatch, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["--runtime", "docker", "status"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "Docker is not installed" in result.output


# ---------------------------------------------------------------- environment for Compose


def test_compose_env_follows_settings_ports_and_passwords(monkeypatch):
    monkeypatch.setenv("POLYDEMO_PORT_OFFSET", "1000")
    monkeypatch.setenv("POLYDEMO_PG_PASSWORD", "s3cret-pw")
    env = DockerRuntime(Settings.from_env(runtime="docker")).compose_env()
    assert env["POLYDEMO_POSTGRES_PORT"] == "6432" and env["POLYDEMO_CONNECT_PORT"] == "9083"
    assert env["POLYDEMO_PG_PASSWORD"] == "s3cret-pw"
    assert {f"POLYDEMO_{s.upper()}_PORT" for s in SERVICES} <= set(env)


def test_connector_overrides():
    assert DockerRuntime.connector_overrides() == {"database.hostname": "postgres", "database.port": "5432"}
    DockerRuntime.connector_overrides()["database.port"] = "1"  # a copy: callers cannot corrupt it
    assert DockerRuntime.connector_overrides()["database.port"] == "5432"


# ---------------------------------------------------------------- pure helpers


def test_parse_ps_json_handles_array_and_json_lines():
    array = '[{"Service": "redis", "State": "running", "Health": "healthy"}]'
    lines = (
        '{"Service": "redis", "State": "running", "Health": "healthy"}\n'
        '{"Service": "kafka", "State": "exited", "Health": ""}\n'
    )
    assert docker_rt.parse_ps_json(array) == [{"Service": "redis", "State": "running", "Health": "healthy"}]
    assert [r["Service"] for r in docker_rt.parse_ps_json(lines)] == ["redis", "kafka"]
    assert docker_rt.parse_ps_json("") == []


def test_service_of_container_name():
    assert docker_rt.service_of_container("polydemo-kafka-1") == "kafka"
    assert docker_rt.service_of_container("polydemo_timeseries_1") == "timeseries"
    assert docker_rt.service_of_container("other-kafka-1") is None


@pytest.mark.parametrize(
    "output,needle,hint",
    [
        (
            "neo4j Error manifest for neo4j:5.26.30-community not found: manifest unknown: manifest unknown",
            "no such image or tag",
            "docker-compose.yml",
        ),
        (
            'mongo Error failed to resolve reference "docker.io/library/mongo:7.0.28": '
            "dial tcp: lookup registry-1.docker.io: no such host",
            "cannot be reached",
            "online",
        ),
        (
            "Error response from daemon: toomanyrequests: You have reached your pull rate limit. redis:7.4.11",
            "rate limit",
            "docker login",
        ),
    ],
)
def test_pull_failures_are_explained(output, needle, hint):
    images = docker_rt.compose_images()
    err = docker_rt.pull_error(output, images)
    assert needle in err.message and "could not pull" in err.message
    assert hint in err.hint
    assert any(ref in err.message for ref in images.values())


def test_port_clash_names_the_service_and_the_variable():
    out = (
        "Error response from daemon: driver failed programming external connectivity on endpoint "
        "polydemo-postgres-1 (abc): Bind for 127.0.0.1:5432 failed: port is already allocated"
    )
    ports = Settings.from_env().ports
    err = docker_rt.up_error(out, ports, docker_rt.compose_images())
    assert isinstance(err, PortInUseError)
    assert err.message == "port 5432 for postgres is already in use"
    assert "POLYDEMO_POSTGRES_PORT" in err.hint


# ---------------------------------------------------------------- up / down through fakes


class FakeCompose:
    """Stands in for ComposeProject.run (rt.compose.run): records every command, answers by sub-command."""

    def __init__(self, answers=None):
        self.calls: list[list[str]] = []
        self.answers = answers or {}

    def __call__(self, argv, timeout, on_line=None):
        self.calls.append(argv)
        if argv[:2] == ["docker", "compose"] and "-p" in argv:
            sub = argv[argv.index("-p") + 2 :]
            answer = self.answers.get(sub[0], ComposeResult(0, ""))
            result = answer(sub) if callable(answer) else answer
            if on_line:
                for line in result.output.splitlines():
                    on_line(line)
            return result
        return ComposeResult(0, "2.29.7")

    def subcommands(self):
        return [c[c.index("-p") + 2 :] for c in self.calls if c[:2] == ["docker", "compose"] and "-p" in c]


def make_runtime(monkeypatch, tmp_path, compose, client=None):
    monkeypatch.setenv("PATH", stub_docker(tmp_path))
    rt = DockerRuntime(Settings.from_env(runtime="docker"))
    rt.engine._client = client or FakeClient()
    rt.engine.fresh_client = lambda: rt.engine._client  # the engine-still-there check asks the same fake engine
    rt.compose._version_ok = True
    monkeypatch.setattr(rt.compose, "run", compose)
    return rt


UNHEALTHY = ComposeResult(
    1,
    " Container polydemo-kafka-1  Healthy\n"
    " Container polydemo-neo4j-1  Error\n"
    "dependency failed to start: container polydemo-neo4j-1 is unhealthy\n",
)


def test_failed_up_takes_down_what_it_started(monkeypatch, tmp_path):
    compose = FakeCompose({"up": UNHEALTHY, "logs": ComposeResult(0, "neo4j: out of memory\n")})
    rt = make_runtime(monkeypatch, tmp_path, compose)
    seen = []
    with pytest.raises(ServiceStartError) as exc:
        rt.up(progress=lambda s, st, d: seen.append((s, st)))
    assert exc.value.message.startswith("neo4j did not become healthy")
    assert "out of memory" in (exc.value.details or "")
    assert "stopped what this run started" in exc.value.hint
    subs = compose.subcommands()
    assert [s[0] for s in subs] == ["ps", "up", "logs", "down"]
    up = subs[1]
    assert up[:5] == ["up", "-d", "--wait", "--wait-timeout", "180"] and set(up[5:]) == set(SERVICES)
    assert "-v" not in subs[-1]  # the data volumes stay
    assert ("neo4j", "failed") in seen and ("kafka", "failed") not in seen


def test_failed_up_with_keep_leaves_it_running(monkeypatch, tmp_path):
    compose = FakeCompose({"up": UNHEALTHY})
    rt = make_runtime(monkeypatch, tmp_path, compose)
    with pytest.raises(ServiceStartError):
        rt.up(keep=True)
    assert [s[0] for s in compose.subcommands()] == ["ps", "up", "logs"]


def test_failed_up_removes_only_what_it_started_when_others_were_running(monkeypatch, tmp_path):
    ps = ComposeResult(0, '{"Service": "redis", "State": "running", "Health": "healthy"}\n')
    compose = FakeCompose({"ps": ps, "up": UNHEALTHY})
    rt = make_runtime(monkeypatch, tmp_path, compose)
    with pytest.raises(ServiceStartError):
        rt.up()
    subs = compose.subcommands()
    assert "down" not in [s[0] for s in subs]
    rm = next(s for s in subs if s[0] == "rm")
    assert rm[:3] == ["rm", "--stop", "--force"] and "redis" not in rm and "neo4j" in rm


def test_failed_pull_starts_nothing(monkeypatch, tmp_path):
    pull = ComposeResult(1, "neo4j Error manifest for neo4j:5.26.30-community not found: manifest unknown\n")
    compose = FakeCompose({"pull": pull})
    rt = make_runtime(monkeypatch, tmp_path, compose, FakeClient(images_present=False))
    with pytest.raises(PolydemoError) as exc:
        rt.up(["neo4j"])
    assert exc.value.message == "could not pull neo4j:5.26.30-community: the registry has no such image or tag"
    assert [s[0] for s in compose.subcommands()] == ["ps", "pull"]


def test_up_of_connect_brings_kafka_and_pulls_only_missing(monkeypatch, tmp_path):
    compose = FakeCompose()
    rt = make_runtime(monkeypatch, tmp_path, compose)
    monkeypatch.setattr(rt, "_reachable_statuses", lambda names, grace=20.0: [])
    result = rt.up(["connect"])
    subs = compose.subcommands()
    assert [s[0] for s in subs] == ["ps", "up"]  # images present: no pull
    assert subs[1][5:] == ["kafka", "connect"]
    assert result.started == ["kafka", "connect"]


def test_up_is_idempotent(monkeypatch, tmp_path):
    rows = "\n".join(f'{{"Service": "{s}", "State": "running", "Health": "healthy"}}' for s in SERVICES)
    compose = FakeCompose({"ps": ComposeResult(0, rows)})
    rt = make_runtime(monkeypatch, tmp_path, compose)
    monkeypatch.setattr(rt, "_reachable_statuses", lambda names, grace=20.0: [])
    result = rt.up()
    assert result.started == [] and result.already_running == list(SERVICES)
    assert [s[0] for s in compose.subcommands()] == ["ps"]


def test_down_all_keeps_volumes_and_reports_each_service(monkeypatch, tmp_path):
    ps = ComposeResult(0, '[{"Service": "kafka", "State": "running", "Health": "healthy"}]')
    compose = FakeCompose({"ps": ps})
    rt = make_runtime(monkeypatch, tmp_path, compose)
    outcome = rt.down()
    assert outcome["kafka"] == "stopped" and outcome["postgres"] == "not running"
    down = compose.subcommands()[-1]
    assert down[0] == "down" and "-v" not in down and "--volumes" not in down


# ---------------------------------------------------------------- status and drills through a fake SDK


class FakeContainer:
    def __init__(self, service, status="running", health="healthy", exit_code=0, log=None):
        self.id = f"{service}0123456789abcdef"
        self.labels = {"com.docker.compose.project": "polydemo", "com.docker.compose.service": service}
        self.status = status
        self.calls = []
        state = {"Status": status, "ExitCode": exit_code, "StartedAt": "2026-01-01T00:00:00.123456789Z"}
        if health:
            state["Health"] = {"Status": health, "Log": [{"Output": o} for o in (log or [])]}
        self.attrs = {"State": state, "Config": {"Image": f"img/{service}:1.2.3"}}

    def stats(self, stream=False, one_shot=True):
        return {"memory_stats": {"usage": 300 * 2**20, "stats": {"inactive_file": 100 * 2**20}}}

    def _set(self, status):
        self.status = status
        self.attrs["State"]["Status"] = status

    def reload(self):
        pass

    def stop(self, timeout=None):
        self.calls.append("stop")
        self._set("exited")

    def kill(self, signal=None):
        self.calls.append(f"kill {signal}")
        self._set("exited")

    def start(self):
        self.calls.append("start")
        self._set("running")

    def pause(self):
        self.calls.append("pause")
        self._set("paused")

    def unpause(self):
        self.calls.append("unpause")
        self._set("running")


def test_status_from_containers(monkeypatch, tmp_path):
    containers = [
        FakeContainer("postgres"),
        FakeContainer("redis", health="starting"),
        FakeContainer("mongo", status="paused"),
        FakeContainer("kafka", status="exited", exit_code=137),
        FakeContainer("neo4j", health="unhealthy", log=["Connection refused"]),
        FakeContainer("connect"),
    ]
    rt = make_runtime(monkeypatch, tmp_path, FakeCompose(), FakeClient(containers))
    probes = {
        "postgres": Health(True, "SELECT 1 ok", "PostgreSQL 15.18"),
        "connect": Health(False, "ConnectError: refused"),
    }
    monkeypatch.setattr(docker_runtime, "_host_probe", lambda name, s: probes[name])
    by = {s.service: s for s in rt.status()}
    assert by["postgres"].healthy and by["postgres"].version == "PostgreSQL 15.18"
    assert by["postgres"].rss_bytes == 200 * 2**20 and by["postgres"].uptime_s > 0
    assert by["redis"].state == "unhealthy" and "starting" in by["redis"].detail
    assert by["mongo"].state == "paused"
    assert by["kafka"].state == "stopped" and "137" in by["kafka"].detail
    assert by["neo4j"].state == "unhealthy" and "Connection refused" in by["neo4j"].detail
    assert by["connect"].state == "unhealthy" and "not reachable from the host" in by["connect"].detail
    assert by["timeseries"].state == "stopped" and "no container" in by["timeseries"].detail
    assert [s.service for s in rt.status(["kafka", "redis"])] == ["redis", "kafka"]


def test_drills_drive_one_container(monkeypatch, tmp_path):
    kafka, redis, neo4j = FakeContainer("kafka"), FakeContainer("redis"), FakeContainer("neo4j", status="paused")
    rt = make_runtime(monkeypatch, tmp_path, FakeCompose(), FakeClient([kafka, redis, neo4j]))
    assert rt.pause_service("kafka") == "paused" and kafka.status == "paused"
    assert rt.resume_service("kafka") == "resumed" and kafka.status == "running"
    assert rt.resume_service("kafka") == "not paused"
    assert rt.stop_service("kafka") == "stopped" and kafka.calls[-1] == "stop"
    assert rt.stop_service("kafka") == "not running"
    assert rt.start_service("kafka") == "started" and kafka.status == "running"
    assert rt.start_service("kafka") == "already running"
    assert rt.kill_service("redis") == "killed" and redis.calls == ["kill SIGKILL"]
    assert rt.kill_service("neo4j") == "killed" and neo4j.calls == ["unpause", "kill SIGKILL"]
    assert rt.pause_service("postgres") == "not running"
    with pytest.raises(PolydemoError, match="unknown service"):
        rt.kill_service("mysql")


def test_drill_sdk_failure_is_a_clear_error(monkeypatch, tmp_path):
    kafka = FakeContainer("kafka")

    def boom():
        raise RuntimeError("409 Client Error: Conflict (container is restarting)")

    kafka.pause = boom
    rt = make_runtime(monkeypatch, tmp_path, FakeCompose(), FakeClient([kafka]))
    with pytest.raises(PolydemoError, match="could not pause kafka: 409"):
        rt.pause_service("kafka")


class GoneClient(FakeClient):
    def ping(self):
        raise ConnectionError("connect: no such file or directory")


def test_engine_gone_during_up_is_one_clear_error(monkeypatch, tmp_path):
    gone = ComposeResult(
        1,
        " Container polydemo-kafka-1  Waiting\nfailed to connect to the docker API at "
        "unix:///x.sock; check if the path is correct and if the daemon is running\n",
    )
    compose = FakeCompose({"up": gone})
    rt = make_runtime(monkeypatch, tmp_path, compose)
    with pytest.raises(PolydemoError) as exc:
        rt.up()
    assert exc.value.message == "the Docker engine stopped answering during `up`"
    assert "polydemo --runtime docker down" in exc.value.hint


def test_engine_gone_is_seen_by_a_fresh_ping_even_when_compose_said_otherwise(monkeypatch, tmp_path):
    compose = FakeCompose({"up": UNHEALTHY})
    rt = make_runtime(monkeypatch, tmp_path, compose)
    rt.engine.fresh_client = lambda: GoneClient()
    with pytest.raises(PolydemoError) as exc:
        rt.up()
    assert "stopped answering" in exc.value.message


# ---------------------------------------------------------------- Kafka cluster mode (--kafka-brokers 3)

BROKERS = ["kafka", "kafka-2", "kafka-3"]


def make_cluster_runtime(monkeypatch, tmp_path, compose, client=None):
    monkeypatch.setenv("POLYDEMO_KAFKA_BROKERS", "3")
    rt = make_runtime(monkeypatch, tmp_path, compose, client)
    assert rt.settings.cluster
    return rt


def test_container_names_of_the_cluster_brokers():
    assert docker_rt.service_of_container("polydemo-kafka-2-1") == "kafka-2"
    assert docker_rt.service_of_container("polydemo_kafka-3_1") == "kafka-3"
    assert docker_rt.service_of_container("polydemo-kafka-1") == "kafka"
    text = " Container polydemo-kafka-1  Healthy\n Container polydemo-kafka-3-1  Error\n"
    assert docker_rt._services_in(text) == ["kafka", "kafka-3"]
    assert docker_rt._failed_services(text) == ["kafka-3"]


def test_cluster_services_and_their_dependencies(monkeypatch, tmp_path):
    rt = make_cluster_runtime(monkeypatch, tmp_path, FakeCompose())
    assert rt.all_services() == ["postgres", "timeseries", "redis", "mongo", "neo4j", *BROKERS, "connect"]
    assert rt.select(["kafka-3", "redis"]) == ["redis", "kafka-3"]
    assert rt.depends_on("connect") == tuple(BROKERS)
    with pytest.raises(PolydemoError, match="unknown service 'kafka-4'"):
        rt.select(["kafka-4"])
    single = make_runtime(monkeypatch, tmp_path, FakeCompose())
    single.settings = single.settings.with_overrides(kafka_brokers=1)
    with pytest.raises(PolydemoError, match=r"unknown service 'kafka-2' \(kafka-2 and kafka-3 exist in cluster mode"):
        single.select(["kafka-2"])


def test_cluster_up_starts_three_brokers_with_the_cluster_file(monkeypatch, tmp_path):
    compose = FakeCompose()
    rt = make_cluster_runtime(monkeypatch, tmp_path, compose)
    monkeypatch.setattr(rt, "_reachable_statuses", lambda names, grace=20.0: [])
    result = rt.up(["connect"])
    up = next(c for c in compose.calls if "up" in c)
    assert str(docker_rt.CLUSTER_FILE) in up and up[up.index("--profile") + 1] == "cluster"
    assert up[up.index("up") + 5 :] == [*BROKERS, "connect"]
    assert result.started == [*BROKERS, "connect"]
    env = rt.compose_env()
    assert env["POLYDEMO_KAFKA_2_PORT"] == "9094" and env["POLYDEMO_KAFKA_3_PORT"] == "9095"


def test_cluster_down_takes_the_whole_project_and_one_broker_alone(monkeypatch, tmp_path):
    ps = ComposeResult(0, "\n".join(f'{{"Service": "{b}", "State": "running", "Health": "healthy"}}' for b in BROKERS))
    compose = FakeCompose({"ps": ps})
    rt = make_cluster_runtime(monkeypatch, tmp_path, compose)
    outcome = rt.down()
    assert all(outcome[b] == "stopped" for b in BROKERS)
    assert compose.subcommands()[-1][0] == "down"
    rt.down(["kafka-2"])
    assert compose.subcommands()[-1] == ["stop", "--timeout", "20", "kafka-2"]


def test_broker_drills_and_status_in_cluster_mode(monkeypatch, tmp_path):
    containers = [FakeContainer(b) for b in BROKERS]
    rt = make_cluster_runtime(monkeypatch, tmp_path, FakeCompose(), FakeClient(containers))
    probed = []

    def broker_probe(name, settings):
        probed.append(name)
        return Health(True, f"{name} in the metadata")

    monkeypatch.setattr(docker_runtime, "_broker_probe", broker_probe)
    monkeypatch.setattr(docker_runtime, "_host_probe", lambda name, s: pytest.fail(f"{name}: not a broker probe"))
    by = {s.service: s for s in rt.status(BROKERS)}
    assert sorted(probed) == BROKERS and all(by[b].healthy for b in BROKERS)
    assert by["kafka-2"].port == 9094 and "broker 2 of 3" in by["kafka-2"].engine
    assert rt.kill_service("kafka-2") == "killed" and containers[1].calls == ["kill SIGKILL"]
    assert rt.status(["kafka-2"])[0].state == "stopped"
    assert rt.start_service("kafka-2") == "started" and containers[1].status == "running"


def test_controller_leader_is_read_in_the_broker_containers(monkeypatch, tmp_path):
    states = {"kafka": (1, 4), "kafka-2": (2, 6), "kafka-3": None}
    containers = []
    for name, state in states.items():
        c = FakeContainer(name)

        def exec_run(argv, demux=False, state=state):
            assert argv == ["cat", docker_rt.QUORUM_STATE]
            if state is None:
                return 1, b"cat: no such file"
            return 0, f'{{"leaderId": {state[0]}, "leaderEpoch": {state[1]}}}'.encode()

        c.exec_run = exec_run
        containers.append(c)
    rt = make_cluster_runtime(monkeypatch, tmp_path, FakeCompose(), FakeClient(containers))
    assert rt.controller_leader() == (2, 6)


def test_up_refuses_to_mix_one_broker_and_a_cluster(monkeypatch, tmp_path):
    cluster_running = [FakeContainer(b) for b in BROKERS]
    single = make_runtime(monkeypatch, tmp_path, FakeCompose(), FakeClient(cluster_running))
    with pytest.raises(PolydemoError, match=r"a Kafka cluster \(kafka, kafka-2, kafka-3\) .* is running"):
        single.up()
    one = FakeContainer("kafka")
    one.attrs["Config"]["Env"] = ["KAFKA_NODE_ID=1", "KAFKA_CONTROLLER_QUORUM_VOTERS=1@localhost:9093"]
    rt = make_cluster_runtime(monkeypatch, tmp_path, FakeCompose(), FakeClient([one]))
    with pytest.raises(PolydemoError, match="runs one broker, not a cluster of 3"):
        rt.up()
    assert (
        docker_rt.kafka_brokers_of(["KAFKA_CONTROLLER_QUORUM_VOTERS=1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"]) == 3
    )
    assert docker_rt.kafka_brokers_of(["PATH=/bin"]) is None


def test_cli_up_with_three_brokers_is_no_longer_refused_on_docker(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", stub_docker(tmp_path))
    res = CliRunner().invoke(app, ["--runtime", "docker", "up", "--kafka-brokers", "3", "--no-pipeline"])
    assert "local runtime only" not in res.output
    assert "engine is not running" in res.output  # it went on to the engine, which is absent here


def test_the_delete_volumes_hint_names_the_cluster_file_in_cluster_mode(tmp_path):
    """`down` says how to delete the volumes; in cluster mode `down -v` without the cluster file left kafka-2's
    and kafka-3's behind."""
    from polydemo.config import Settings
    from polydemo.runtime.docker import DockerRuntime

    single = Settings.from_env(home=tmp_path)
    one = DockerRuntime(single, overrides=[]).delete_volumes_command()
    assert one.startswith("docker compose -f ") and one.endswith(" -p polydemo down -v")
    assert "docker-compose.cluster.yml" not in one
    three = DockerRuntime(single.with_overrides(kafka_brokers=3), overrides=[]).delete_volumes_command()
    assert "docker-compose.yml -f " in three and "docker-compose.cluster.yml" in three
    assert three.endswith(" -p polydemo down -v")
