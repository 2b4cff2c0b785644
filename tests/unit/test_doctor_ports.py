"""`polydemo doctor`'s port checks: every port the stack needs, brokers 2 and 3 too in cluster mode."""

from __future__ import annotations

from polydemo import doctor
from polydemo.config import Settings


def _checks(monkeypatch, tmp_path, brokers: int, taken: set[int]):
    monkeypatch.setenv("POLYDEMO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("POLYDEMO_PORT_OFFSET", "26000")
    settings = Settings.from_env().with_overrides(kafka_brokers=brokers)
    monkeypatch.setattr(doctor.procs, "port_free", lambda port, host: port not in taken)
    monkeypatch.setattr(doctor.procs, "port_owner", lambda port: "nc (pid 4242)")
    return {c.name: c for c in doctor.port_checks(settings)}


def test_one_broker_checks_the_seven_ports_and_the_controller(monkeypatch, tmp_path):
    checks = _checks(monkeypatch, tmp_path, 1, set())
    assert "kafka: port 35092" in checks and "kafka_controller: port 35093" in checks
    assert not any(name.startswith(("kafka-2", "kafka-3", "kafka_controller_")) for name in checks)
    assert len(checks) == 8 and all(c.ok for c in checks.values())


def test_cluster_mode_checks_brokers_2_and_3_and_their_controllers(monkeypatch, tmp_path):
    checks = _checks(monkeypatch, tmp_path, 3, {35094, 35097})
    for name in ("kafka-2: port 35094", "kafka_controller_2: port 35096", "kafka-3: port 35095"):
        assert name in checks, sorted(checks)
    assert "kafka_controller_3: port 35097" in checks and len(checks) == 12
    bad = {name: c for name, c in checks.items() if not c.ok}
    assert set(bad) == {"kafka-2: port 35094", "kafka_controller_3: port 35097"}
    assert bad["kafka-2: port 35094"].detail == "in use by nc (pid 4242)"
    # the fix names the variable Settings reads (POLYDEMO_KAFKA_2_PORT, not POLYDEMO_KAFKA-2_PORT)
    assert "POLYDEMO_KAFKA_2_PORT" in bad["kafka-2: port 35094"].fix
    assert "POLYDEMO_KAFKA_CONTROLLER_3_PORT" in bad["kafka_controller_3: port 35097"].fix


def test_a_running_broker_holds_its_own_port(monkeypatch, tmp_path):
    monkeypatch.setattr(doctor.procs, "alive", lambda pid_file: pid_file.name == "kafka-3.pid")
    checks = _checks(monkeypatch, tmp_path, 3, {35095, 35097})
    assert (
        checks["kafka-3: port 35095"].ok and checks["kafka-3: port 35095"].detail == "in use by polydemo's own server"
    )
    assert checks["kafka_controller_3: port 35097"].ok
