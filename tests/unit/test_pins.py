"""The versions the code names are the versions the poms and requirement files pin."""

import re
from pathlib import Path

from polydemo.runtime import services

ROOT = Path(__file__).resolve().parents[2]


def prop(pom: str, name: str) -> str:
    m = re.search(rf"<{re.escape(name)}>([^<]+)</{re.escape(name)}>", (ROOT / pom).read_text())
    assert m, f"{name} not in {pom}"
    return m.group(1)


def test_kafka_and_debezium_pins_match():
    assert prop("stack/kafka/pom.xml", "kafka.version") == services.KAFKA_VERSION
    assert prop("stack/kafka/pom.xml", "debezium.version") == services.DEBEZIUM_VERSION


def test_secantus_pin_matches():
    req = (ROOT / "stack/mongo/requirements-secantusd.txt").read_text()
    assert f"secantusdb=={services.SECANTUS_VERSION}" in req


def test_python_dependencies_are_pinned():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["dev"]
    assert len(deps) >= 10 and [d for d in deps if "==" not in d] == []
