"""The Runtime base: one ``select`` for both runtimes, and the optional abilities (controller leader,
connector overrides, where the data is, a log command) as methods with defaults, which the CLI calls
without asking which runtime it has."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from polydemo.cli import app
from polydemo.cli.stack import broker_rows
from polydemo.config import SERVICES, Settings
from polydemo.errors import PolydemoError
from polydemo.runtime.base import Runtime, ServiceStatus, UpResult


class Bare(Runtime):
    """A runtime with only the abstract methods: everything else is the base's default."""

    name = "bare"

    def __init__(self, settings: Settings, log: str | None = None):
        super().__init__(settings)
        self.log = log
        self.calls: list[tuple] = []

    def up(self, services=None, keep=False, progress=None) -> UpResult:  # pragma: no cover - not used
        raise NotImplementedError

    def down(self, services=None, progress=None) -> dict[str, str]:
        self.calls.append(("down", list(services or [])))
        return {s: "stopped" for s in self.select(services)}

    def status(self, services=None) -> list[ServiceStatus]:  # pragma: no cover - not used
        return []

    def log_path(self, service: str):
        self.select([service])
        if self.log is None:
            return None
        path = self.settings.logs_dir / f"{service}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.log)
        return path

    def stop_service(self, service: str) -> str:  # pragma: no cover - not used
        return "stopped"

    kill_service = start_service = pause_service = resume_service = stop_service


class WithAbilities(Bare):
    name = "able"

    def controller_leader(self):
        return (2, 7)

    def data_location(self) -> str:
        return "the moon"

    def logs_argv(self, service, follow=False, lines=40):
        return ["show-log", service, str(lines), *(["--follow"] if follow else [])]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env(home=tmp_path / "home")


def test_the_defaults_of_the_optional_abilities(settings):
    rt = Bare(settings)
    assert rt.controller_leader() is None
    assert rt.connector_overrides() == {}
    assert rt.data_location() == str(settings.home / "data")
    assert rt.logs_argv("redis", follow=True) is None


def test_select_is_stack_order_and_refuses_unknown_names(settings):
    rt = Bare(settings)
    assert rt.select(None) == list(SERVICES) == rt.all_services()
    assert rt.select(["connect", "redis"]) == ["redis", "connect"]
    with pytest.raises(PolydemoError, match=r"unknown service 'kafka-2' \(kafka-2 and kafka-3 exist in cluster mode"):
        rt.select(["kafka-2"])
    with pytest.raises(PolydemoError, match=r"unknown service 'mysql'$") as exc:
        rt.select(["redis", "mysql"])
    assert exc.value.hint == f"services are: {', '.join(SERVICES)}"


def test_select_in_cluster_mode_knows_the_extra_brokers(settings):
    rt = Bare(settings.with_overrides(kafka_brokers=3))
    assert rt.all_services() == [
        "postgres",
        "timeseries",
        "redis",
        "mongo",
        "neo4j",
        "kafka",
        "kafka-2",
        "kafka-3",
        "connect",
    ]
    assert rt.select(["kafka-3", "kafka"]) == ["kafka", "kafka-3"]


def test_the_local_runtime_selects_over_its_specs(settings):
    from polydemo.runtime.local import LocalRuntime

    assert LocalRuntime(settings).select(None) == list(SERVICES)
    cluster = LocalRuntime(settings.with_overrides(kafka_brokers=3))
    assert cluster.select(None) == Bare(cluster.settings).all_services()
    assert cluster.select(["connect", "kafka-2"]) == ["kafka-2", "connect"]


def test_broker_rows_ask_the_runtime_for_the_leader(settings):
    three = settings.with_overrides(kafka_brokers=3)
    up = ServiceStatus("kafka-2", "Kafka", None, 1, 42, "healthy", "", None, None)
    rows, leader = broker_rows(three, [up], WithAbilities(three))
    assert leader == 2
    assert [(r["service"], r["state"], r["controller_leader"]) for r in rows] == [
        ("kafka", "down", False),
        ("kafka-2", "up", True),
        ("kafka-3", "down", False),
    ]
    assert broker_rows(three, [up], Bare(three))[1] is None


def use(monkeypatch, runtime: Runtime) -> None:
    """The CLI's runtime, through the factory it calls (it never imports a runtime module itself)."""
    monkeypatch.setattr("polydemo.runtime.get_runtime", lambda settings, choice=None: runtime)


def test_down_says_where_the_runtime_keeps_the_data(monkeypatch, settings):
    use(monkeypatch, WithAbilities(settings))
    res = CliRunner().invoke(app, ["--home", str(settings.home), "down", "redis"])
    assert res.exit_code == 0, res.output
    assert "data kept in the moon" in res.output
    use(monkeypatch, Bare(settings))
    res = CliRunner().invoke(app, ["--home", str(settings.home), "down", "redis"])
    assert f"data kept in {settings.home / 'data'}" in res.output.replace("\n", "")


def test_logs_runs_the_runtimes_command_or_reads_its_file(monkeypatch, settings):
    ran: list[list[str]] = []
    monkeypatch.setattr("subprocess.run", lambda argv, check=False: ran.append(argv))
    use(monkeypatch, WithAbilities(settings, log="never read\n"))
    res = CliRunner().invoke(app, ["--home", str(settings.home), "logs", "redis", "-n", "5", "-f"])
    assert res.exit_code == 0, res.output
    assert ran == [["show-log", "redis", "5", "--follow"]] and "never read" not in res.output
    use(monkeypatch, Bare(settings, log="one\ntwo\nthree\n"))
    res = CliRunner().invoke(app, ["--home", str(settings.home), "logs", "redis", "-n", "2"])
    assert res.exit_code == 0, res.output
    assert res.output.split() == ["two", "three"] and len(ran) == 1
    use(monkeypatch, Bare(settings))
    res = CliRunner().invoke(app, ["--home", str(settings.home), "logs", "redis"])
    assert res.exit_code != 0 and "no log for redis yet" in res.output


def test_the_cli_and_the_stack_reach_the_runtimes_only_through_the_interface():
    """cli/ and stack.py import the Runtime base and factory (polydemo.runtime, .base, .choice), never a
    runtime's own module: what differs between runtimes is a method of the base."""
    import ast
    from pathlib import Path

    import polydemo

    root = Path(polydemo.__file__).parent
    own = ("polydemo.runtime.docker", "polydemo.runtime.local", "polydemo.runtime.services", "polydemo.runtime.cds")
    found = []
    for path in [*sorted((root / "cli").glob("*.py")), root / "stack.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            found += [f"{path.name}: {n}" for n in names if n.startswith(own)]
    assert found == []
