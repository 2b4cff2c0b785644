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


def test_the_dashboard_shows_the_schema_version_and_its_diff(stack):
    """The dashboard's collector (one kept Collector, reading only new messages each frame) sees users go to v2
    with bio added, then v3 +about and v4 -bio for the rename; reset recreates the topics and the view follows."""
    from polydemo.dashboard.snapshot import Collector
    from polydemo.domain import users

    from .conftest import wait_for

    reset = runner.invoke(app, ["reset", "--yes"], env={"COLUMNS": "300"})
    assert reset.exit_code == 0, reset.output
    col = Collector(stack)
    n = 0

    def signup() -> None:
        nonlocal n
        n += 1
        users.signup(stack, f"schema-dash-{n}@demo.example", f"Dash {n}", "correct horse battery")

    def users_schema(version: int, of: int):
        def check():
            s = next((t for t in col.collect().schemas if t.topic == "users"), None)
            return s if s is not None and (s.version, s.versions) == (version, of) and not s.catching_up else None

        return wait_for(check, timeout=60, interval=0.3, what=f"users at v{version} of {of}")[0]

    try:
        signup()
        v1 = users_schema(1, 1)
        assert [f.name for f in v1.fields] == ["id", "email", "name", "created_at", "updated_at"]
        assert (v1.added, v1.removed) == ([], [])
        follows = next(t for t in col.collect().schemas if t.topic == "follows")
        assert follows.topic == "follows"  # listed even before its first change event (reset emptied it)

        with Stores(stack) as st:
            assert st.users.add_column("users", "bio", "text")
        signup()
        v2 = users_schema(2, 2)
        assert v2.added == ["bio"] and v2.removed == [] and [f.name for f in v2.fields][-1] == "bio"
        snap = col.collect()
        assert any(t["topic"] == "users" and t["added"] == ["bio"] for t in snap.to_dict()["schemas"])

        with Stores(stack) as st:  # the rename: add, backfill, drop
            users.update_profile(stack, f"schema-dash-{n}@demo.example", None, st.users, bio="a bio")
            assert st.users.add_column("users", "about", "text")
            assert st.users.backfill_column("users", "bio", "about") == 1
            v3 = users_schema(3, 3)
            assert v3.added == ["about"] and v3.removed == []
            assert st.users.drop_column("users", "bio")
        signup()
        v4 = users_schema(4, 4)
        assert v4.added == [] and v4.removed == ["bio"]
        assert [f.name for f in v4.fields] == ["id", "email", "name", "created_at", "updated_at", "about"]

        # reset puts the schema back and recreates the topics: the same collector starts over.
        reset = runner.invoke(app, ["reset", "--yes"], env={"COLUMNS": "300"})
        assert reset.exit_code == 0, reset.output
        signup()
        back = users_schema(1, 1)
        assert [f.name for f in back.fields] == ["id", "email", "name", "created_at", "updated_at"]
    finally:
        col.close()
