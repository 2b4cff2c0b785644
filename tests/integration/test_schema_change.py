"""Issue 16, the schema-change story on the real stack: run through the CLI, nothing lost, bio in the cache."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from polydemo.cli import app
from polydemo.stores import Stores

runner = CliRunner()
PREFIX = "schema-change-schema"


def test_schema_change_loses_no_event_and_carries_the_bio(stack):
    result = runner.invoke(
        app, ["scenario", "run", "schema-change", "--no-dashboard", "--speed", "100", "--json"], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["passed"], [s for s in data["steps"] if not s["ok"]]
    print(f"\n[scenario] schema-change: {data['seconds']:.1f}s at --speed 100")
    fields = [s["message"] for s in data["steps"] if s["kind"] == "schema"]
    assert "+bio" in fields[1] and "-bio" in fields[2] and "+about" in fields[2], fields

    with Stores(stack) as st:
        ids = st.users.ids_like(f"{PREFIX}-%@load.example")
        assert len(ids) == 300
        # Every sign-up made during the ALTER TABLE reached Redis, Neo4j and the events.
        assert sum(st.cache.profile(i) is not None for i in ids) == 300
        assert st.graph.users_with_email_prefix(PREFIX)[0] == 300
        assert st.events.count_for_users("signed_up", ids) == 300
        ada = st.users.user("schema-ada@demo.example")
        assert ada is not None
        assert st.users.columns("users")[-1] == "about" and "bio" not in st.users.columns("users")
        assert st.cache.profile(ada.id)["bio"] == "Writes the first program; now on the schema."
        assert st.users.bio(ada.id) == "Writes the first program; now on the schema."

    # A second run starts from database.sql again (its prepare drops the story's columns) and passes.
    again = runner.invoke(app, ["scenario", "run", "schema-change", "--no-dashboard", "--speed", "100", "--json"])
    assert again.exit_code == 0, again.output

    # reset puts the schema back.
    reset = runner.invoke(app, ["reset", "--yes"], env={"COLUMNS": "300"})
    assert reset.exit_code == 0, reset.output
    assert "dropping the schema-change story's columns (about)" in reset.stderr
    with Stores(stack) as st:
        assert st.users.columns("users") == ["id", "email", "name", "hashed_password", "created_at", "updated_at"]
