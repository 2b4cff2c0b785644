"""The "who to follow" read model's pure part: friends of friends, the users a change affects, and the
incremental recompute being exact and replay-safe (no servers: a dict stands in for the Redis sets)."""

from __future__ import annotations

import random

from polydemo.pipeline.events import Change
from polydemo.stores.cache import affected_users, edge_ops, friends_of_friends


def follow(a: str, b: str, op: str = "create") -> Change:
    return Change("follow", op, {"follower_id": a, "followee_id": b}, None, 0, f"pg:follow:{a}:{b}:{op}")


def sql_like(edges: set[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """What the SQL on Postgres computes, written independently: a join of the edge set with itself."""
    out: dict[str, dict[str, int]] = {}
    for u, m in edges:
        for m2, c in edges:
            if m2 == m and c != u and (u, c) not in edges:
                out.setdefault(u, {})[c] = out.get(u, {}).get(c, 0) + 1
    return out


class Model:
    """The gateway's algorithm over in-memory sets: apply the edges, recompute every affected user whole."""

    def __init__(self) -> None:
        self.out: dict[str, set[str]] = {}
        self.inn: dict[str, set[str]] = {}
        self.view: dict[str, dict[str, int]] = {}

    def apply(self, changes: list[Change]) -> None:
        ops = edge_ops(changes)
        for add, a, b in ops:
            (self.out.setdefault(a, set()).add if add else self.out.setdefault(a, set()).discard)(b)
            (self.inn.setdefault(b, set()).add if add else self.inn.setdefault(b, set()).discard)(a)
        for u in affected_users(ops, self.inn):
            scores = friends_of_friends(u, self.out)
            if scores:
                self.view[u] = scores
            else:
                self.view.pop(u, None)


def test_friends_of_friends_counts_paths_and_leaves_out_self_and_followees():
    following = {"u": {"a", "b", "c"}, "a": {"x", "u", "c"}, "b": {"x", "y"}, "c": set()}
    assert friends_of_friends("u", following) == {"x": 2, "y": 1}  # c: already followed; u: self
    assert friends_of_friends("nobody", following) == {}


def test_edge_ops_ignore_users_and_keep_order():
    user = Change("user", "delete", {"id": "a"}, None, 0, "pg:user:a:d:1")
    assert edge_ops([follow("a", "b"), user, follow("a", "b", "delete")]) == [(True, "a", "b"), (False, "a", "b")]


def test_affected_are_the_source_and_its_followers():
    assert affected_users([(True, "a", "b")], {"a": {"u", "v"}}) == {"a", "u", "v"}


def random_history(seed: int, n: int = 400) -> list[Change]:
    rnd = random.Random(seed)
    people = [f"p{i}" for i in range(12)]
    edges: set[tuple[str, str]] = set()
    out = []
    for _ in range(n):
        a, b = rnd.sample(people, 2)
        if (a, b) in edges and rnd.random() < 0.6:
            edges.discard((a, b))
            out.append(follow(a, b, "delete"))
        else:
            edges.add((a, b))
            out.append(follow(a, b))
    return out


def edges_of(history: list[Change]) -> set[tuple[str, str]]:
    edges: set[tuple[str, str]] = set()
    for add, a, b in edge_ops(history):
        (edges.add if add else edges.discard)((a, b))
    return edges


def test_incremental_equals_the_sql_after_any_history():
    for seed in range(5):
        history = random_history(seed)
        m = Model()
        for i in range(0, len(history), 7):  # batches, as the loop polls them
            m.apply(history[i : i + 7])
            assert m.view == sql_like(edges_of(history[: i + 7])), (seed, i)


def test_replay_is_idempotent_redelivery_of_any_suffix_changes_nothing():
    history = random_history(42)
    m = Model()
    m.apply(history)
    expected = sql_like(edges_of(history))
    assert m.view == expected
    for start in (0, 100, 250, 399):  # a crash before the commit: the loop delivers the suffix again
        m.apply(history[start:])
        assert m.view == expected
    m.apply(history)  # and the whole log again (a second consumer group would see exactly this)
    assert m.view == expected


def test_a_compacted_log_rebuilds_the_same_view():
    """Compaction keeps the newest change per key (delete events included: tombstones.on.delete=false)."""
    history = random_history(7)
    newest: dict[tuple[str, str], Change] = {}
    for c in history:
        newest.pop((c.key["follower_id"], c.key["followee_id"]), None)
        newest[(c.key["follower_id"], c.key["followee_id"])] = c
    full, compacted = Model(), Model()
    full.apply(history)
    compacted.apply(list(newest.values()))
    assert compacted.view == full.view == sql_like(edges_of(history))
