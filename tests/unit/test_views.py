from io import StringIO

from polydemo.console import Environment
from polydemo.runtime.base import ServiceStatus
from polydemo.views import human_bytes, human_duration, status_table


def render(renderable, width=100) -> str:
    env = Environment(stdout=StringIO(), stderr=StringIO(), width=width)
    env.out.print(renderable)
    return env.stdout.getvalue()


def test_status_table_shows_every_column_and_total():
    rows = [
        ServiceStatus("postgres", "PostgreSQL 15", "PostgreSQL 15.18", 5432, 101, "healthy", "ok", 75.0, 60 * 2**20),
        ServiceStatus("neo4j", "Neo4j", None, 7687, None, "stopped", "not running", None, None),
    ]
    text = render(status_table(rows, "local"))
    assert "local runtime" in text
    assert "PostgreSQL 15.18" in text and "5432" in text and "101" in text and "1m15s" in text
    assert "stopped" in text and "60.0 MB" in text and "total" in text


def test_humanize():
    assert human_bytes(512) == "512 B"
    assert human_bytes(3 * 1024**3) == "3.00 GB"
    assert human_duration(3700) == "1h01m"
