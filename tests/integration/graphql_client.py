"""The integration tests' GraphQL client for the web gateway: one request, and its answer read as data or as one
error (shared by test_web_api.py and test_web_audience.py)."""

from __future__ import annotations

import httpx


def gql(url: str, query: str, token: str | None = None, **variables) -> dict:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    r = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def ok(answer: dict) -> dict:
    assert not answer.get("errors"), answer
    return answer["data"]


def error(answer: dict) -> dict:
    assert answer.get("errors"), answer
    assert len(answer["errors"]) == 1, answer
    return answer["errors"][0]


def code_of(answer: dict) -> str:
    return error(answer)["extensions"]["code"]
