"""Talk mode on the real stack: `rehearse` and `scenario run --show-commands`."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from polydemo import seed
from polydemo.cli import app
from polydemo.stores import Stores

from .test_pipeline import counts

runner = CliRunner()


def test_rehearse_signup_follow_passes_and_leaves_the_stack_seeded_and_converged(stack):
    result = runner.invoke(app, ["rehearse", "signup", "follow", "--json"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["passed"] is True and doc["scenarios"] == doc["scenarios_passed"] == 2
    assert [(s["name"], s["status"]) for s in doc["steps"]] == [
        ("doctor", "passed"),
        ("reset", "passed"),
        ("signup", "passed"),
        ("follow", "passed"),
        ("reset", "passed"),
    ]
    print(f"\n[rehearse] {[(s['name'], s['seconds']) for s in doc['steps']]} total {doc['seconds']}s")
    with Stores(stack) as stores:
        assert seed.wait_converged(stack, timeout=5, stores=stores)
    seeded = counts(stack)
    assert seeded["users"] == seeded["nodes"] == seeded["cached"] == 36  # the talk's starting state


def test_show_commands_shows_the_insert_and_the_merge_and_never_the_hash(stack):
    result = runner.invoke(
        app,
        ["scenario", "run", "signup", "--speed", "100", "--show-commands", "--no-dashboard"],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert (
        "postgres: INSERT INTO users (email, name, hashed_password) VALUES ('margaret.signup@scenario.example'" in out
    )
    assert "'<argon2id hash>'" in out
    assert "neo4j: UNWIND $rows AS r MERGE (u:User {id: r.id})" in out
    assert "redis: HSET user:" in out and "redis: SADD polydemo:profiles" in out
    assert re.search(r"kafka: polydemo\.public\.users partition [0-5] offset \d+", out)  # six partitions, by key
    assert "$argon2" not in out
    assert not (stack.run_dir / "show-commands").exists()  # the projectors stop recording afterwards
