"""The live view (polydemo/web/static/) in Debian's chromium, driven by Selenium, on the suite's real stack.

Nothing is mocked: the page talks to a real gateway (``polydemo.web``) over the suite's stack. Each test reads
the numbers and states the page draws (the stable hooks: ``[data-node]`` with ``[data-count]``, ``data-ok``,
``data-state``, ``data-lag``; ``[data-flow-id]`` in the waterfall; ``window.polydemo.drawn``).

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (``scripts/browser.sh`` installs them): without them
every test here is skipped, saying so. ``SE_OFFLINE=true``: Selenium Manager never downloads a driver.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest

from . import graphql_client
from .browser import SHOTS, attr, chromium, click, fill, needs_chromium, no_scrolling, text, viewport, wait

PASSWORD = "secret123"

pytestmark = needs_chromium


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def web_url(web):
    """The base URL of the suite's gateway (the conftest's ``web``: ``polydemo web start`` over its stack)."""
    return str(web).rstrip("/")


@pytest.fixture(scope="module")
def driver():
    drv = chromium(1280, 720)
    try:
        yield drv
    finally:
        drv.quit()


def graphql(url: str, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    return graphql_client.ok(graphql_client.gql(url, query, token, **(variables or {})))


@pytest.fixture
def page(driver, web_url):
    """The live view, loaded fresh, live (its socket open) and showing a snapshot with Postgres counted."""
    driver.get(web_url + "/")
    driver.execute_script("sessionStorage.clear()")
    driver.get(web_url + "/")
    wait(driver, lambda d: text(d, "#live-state") == "live", 20, "the live socket")
    wait(driver, lambda d: count(d, "postgres") is not None, 20, "a snapshot with Postgres counted")
    return driver


# ---------------------------------------------------------------------------------------------- helpers


def count(drv, node: str) -> int | None:
    """The number a node shows in its ``[data-count]`` (None: "—", nothing known)."""
    raw = text(drv, f'[data-node="{node}"] [data-count]') or ""
    digits = re.sub(r"[^\d]", "", raw)
    return int(digits) if digits else None


def status_line(drv) -> str:
    return text(drv, "#error") or ""


def sign_up_on_page(drv, name: str) -> dict:
    """Sign up from the page's form; the user the page holds once the gateway answered."""
    email = f"web-{uuid.uuid4().hex[:12]}@example.org"
    fill(drv, "signup-email", email)
    fill(drv, "signup-name", name)
    fill(drv, "signup-password", PASSWORD)
    click(drv, "#signup-submit")
    user = wait(
        drv,
        lambda d: (
            d.execute_script("const u = window.polydemo.state.user; return u && u.email === arguments[0] && u", email)
            or ("error" if "[" in status_line(d) else None)
        ),
        15,
        f"the page to sign up {email} (status line: {status_line(drv)!r})",
    )
    assert user != "error", f"sign-up refused: {status_line(drv)}"
    return user


def sign_up_by_graphql(url: str) -> dict:
    email = f"web-{uuid.uuid4().hex[:12]}@example.org"
    data = graphql(
        url,
        "mutation($e: String!, $n: String!, $p: String!) { signUp(email: $e, name: $n, password: $p) "
        "{ token user { id email name } } }",
        {"e": email, "n": f"Web {email[4:12]}", "p": PASSWORD},
    )
    return data["signUp"]


def flow_for(drv, user_id: str) -> dict | None:
    """The flow the page holds for the user's sign-up (its entity key is the user id)."""
    return drv.execute_script(
        "for (const r of window.polydemo.state.flows.values()) {"
        "  if (r.flow.entity === 'user' && String(r.flow.key).includes(arguments[0])) return r.flow; }"
        "return null",
        user_id,
    )


# ---------------------------------------------------------------------------------------------- the tests
STORES = ("postgres", "redis", "neo4j", "timeseries")


def test_sign_up_from_the_page_changes_every_count_and_draws_its_hops(page):
    before = {n: count(page, n) for n in STORES}
    assert all(v is not None for v in before.values()), f"a store shows no count: {before}"
    name = f"Web Viewer {uuid.uuid4().hex[:6]}"
    user = sign_up_on_page(page, name)
    t0 = time.monotonic()

    def changed(d):
        now = {n: count(d, n) for n in STORES}
        return now if all(now[n] is not None and now[n] != before[n] for n in STORES) else None

    after = wait(page, changed, 15, f"Postgres, Redis, Neo4j and time-series counts to change from {before}")
    assert after["postgres"] > before["postgres"] and after["redis"] > before["redis"]
    print(f"\n[web] counts {before} -> {after} in {time.monotonic() - t0:.1f}s")

    # The change's hops, drawn: its waterfall entry lists each hop with its ms, the last hop recorded as drawn.
    flow = wait(page, lambda d: (f := flow_for(d, user["id"])) and f["complete"] and f, 15, "the sign-up's full flow")
    entry = wait(page, lambda d: text(d, f'[data-flow-id="{flow["id"]}"]'), 5, "its waterfall entry")
    for hop in ("Postgres commit", "Kafka append", "visible in Neo4j", "visible in Redis", "visible in time-series"):
        assert re.search(re.escape(hop) + r" \d+ ms", entry), f"{hop!r} with its ms not in the entry {entry!r}"
    assert name in entry, entry
    drawn = page.execute_script("return window.polydemo.drawn[arguments[0]]", flow["id"])
    assert isinstance(drawn, (int, float)) and drawn > 0, "the flow's last hop was never recorded as drawn"
    # ... and its dots ran along the drawn edges (the per-edge counts over 30 s include it).
    edge = wait(page, lambda d: int(attr(d, '[data-edge="kafka-cache"] [data-count]', "data-count") or 0), 5, "edges")
    assert edge >= 1


def test_kill_the_cache_projector_from_the_page_then_start_it_and_its_lag_drains(page, web_url):
    me = sign_up_on_page(page, f"Web Operator {uuid.uuid4().hex[:6]}")
    token = page.execute_script("return sessionStorage.getItem('polydemo-token')")
    assert token, "the page keeps no session token"
    cache = '[data-node="cache"]'
    try:
        click(page, '[data-action="kill"][data-projector="cache"]')
        wait(
            page, lambda d: attr(d, cache, "data-ok") == "false", 15, f"the cache node to show stopped ({me['email']})"
        )
        state = attr(page, cache, "data-state")
        assert state in ("stopped", "killed", "exited", "failed"), state
        assert attr(page, '[data-edge="kafka-cache"]', "data-ok") == "false", "the kafka→cache edge does not show it"

        sign_up_by_graphql(web_url)  # someone else: a change the cache projector is not there to apply
        sign_up_by_graphql(web_url)
        lag = wait(page, lambda d: int(attr(d, cache, "data-lag") or 0), 20, "the cache lag to grow above 0")
        assert count(page, "cache") is not None, "the cache node shows no lag number"
        print(f"\n[web] cache killed: lag {lag}")

        click(page, '[data-action="start"][data-projector="cache"]')
        wait(page, lambda d: attr(d, cache, "data-ok") == "true", 30, "the cache node to show running again")
        t0 = time.monotonic()
        wait(page, lambda d: attr(d, cache, "data-lag") == "0", 30, "the cache lag to drain to 0")
        print(f"[web] cache started: lag 0 after {time.monotonic() - t0:.1f}s more")
        assert attr(page, '[data-edge="kafka-cache"]', "data-ok") == "true"
    finally:
        # Whatever happened above, the other tests need the cache projector running.
        graphql(web_url, 'mutation { projector(name: "cache", action: START) }', token=token)


def test_user_text_is_shown_as_text_never_as_html(page):
    tag = uuid.uuid4().hex[:6]
    name = f"<img src=x onerror=alert(1)> {tag}"
    user = sign_up_on_page(page, name)
    assert name in text(page, "#whoami")
    # The feed (the insert on public.users carries the name), the waterfall and the strong read show it literally.
    wait(page, lambda d: name in (text(d, "#feed") or ""), 15, "the name in the event feed")
    wait(
        page,
        lambda d: (f := flow_for(d, user["id"])) and name in (text(d, f'[data-flow-id="{f["id"]}"]') or ""),
        15,
        "the name in the waterfall",
    )
    wait(page, lambda d: name in (text(d, "#read-strong") or ""), 10, "the name in the strong read")
    images = page.execute_script("return document.querySelectorAll('img').length")
    assert images == 0, f"user text became {images} <img> element(s)"
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        _ = page.switch_to.alert  # no alert() ran


def test_screenshots_dark_and_light_and_no_scrolling_at_1280x720_and_1920x1080(page, web_url):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.execute_script("localStorage.removeItem('polydemo-theme')")
    page.get(web_url + "/")
    wait(page, lambda d: count(d, "postgres") is not None and text(d, "#live-state") == "live", 20, "the page, live")
    time.sleep(1.5)  # a second snapshot and its edges drawn
    assert attr(page, "html", "data-theme") == "dark", "dark is not the default"
    sh, ih, sw, iw = no_scrolling(page)
    assert (iw, ih) == (1280, 720)
    assert sh <= ih and sw <= iw, f"the main view scrolls at 1280x720: {sh}x{sw} in {ih}x{iw}"
    # Legible from the back: a node's count is at least 20 px high on screen at 1280x720.
    px = page.execute_script(
        "const e = document.querySelector('[data-node=\"postgres\"] [data-count]');"
        "return parseFloat(getComputedStyle(e).fontSize) * e.getScreenCTM().a"
    )
    assert px >= 20, f"node counts are {px:.1f}px at 1280x720"
    page.save_screenshot(str(SHOTS / "web-dark.png"))

    click(page, "#theme-toggle")
    wait(page, lambda d: attr(d, "html", "data-theme") == "light", 5, "the light theme")
    time.sleep(0.3)
    page.save_screenshot(str(SHOTS / "web-light.png"))
    page.get(web_url + "/")  # remembered
    wait(page, lambda d: attr(d, "html", "data-theme") == "light", 5, "the light theme after a reload")

    try:
        viewport(page, 1920, 1080)
        page.get(web_url + "/")
        wait(page, lambda d: count(d, "postgres") is not None, 20, "the page at 1920x1080")
        sh, ih, sw, iw = no_scrolling(page)
        assert (iw, ih) == (1920, 1080)
        assert sh <= ih and sw <= iw, f"the main view scrolls at 1920x1080: {sh}x{sw} in {ih}x{iw}"
    finally:
        viewport(page, 1280, 720)
        page.execute_script("localStorage.removeItem('polydemo-theme')")
    for shot in ("web-dark.png", "web-light.png"):
        assert (SHOTS / shot).stat().st_size > 10_000, f"{shot} looks empty"


def test_the_page_says_reconnecting_while_the_gateway_is_down_and_comes_back_by_itself(page, stack):
    from polydemo.web import service

    banner = "#banner"
    assert page.execute_script("return document.querySelector(arguments[0]).hidden", banner)
    try:
        service.stop(stack)
        wait(
            page,
            lambda d: not d.execute_script("return document.querySelector(arguments[0]).hidden", banner),
            10,
            "the banner",
        )
        assert "reconnecting" in text(page, banner)
        assert attr(page, '[data-node="gateway"]', "data-ok") == "false"
    finally:
        service.start(stack)  # the page retries on its own (backoff up to 8 s): no reload below
    wait(
        page,
        lambda d: d.execute_script("return document.querySelector(arguments[0]).hidden", banner),
        20,
        "reconnected",
    )
    wait(page, lambda d: text(d, "#live-state") == "live", 5, "live again")
    assert attr(page, '[data-node="gateway"]', "data-ok") == "true"


def test_a_snapshot_of_nulls_and_dead_stores_is_drawn_not_thrown(page):
    """Any field may be null when a store is down: the page draws "—" and red, never throws (drawn synchronously,
    before the next live snapshot replaces it)."""
    page.get_log("browser")  # drained: what earlier tests logged (a refused socket while the gateway was down)
    down = [{"name": n, "ok": False, "label": "", "error": f"{n} refused the connection"} for n in STORES]
    drawn = page.execute_script(
        """
        const snap = {taken_at: 0, runtime: "local", services: arguments[0], postgres: null, mongo: null, neo4j: null,
                      redis: null, timeseries: null, kafka: null, connect: null, projectors: [], feed: null};
        window.polydemo.render(snap);
        const out = {};
        for (const n of arguments[1]) {
          const g = document.querySelector(`[data-node="${n}"]`);
          out[n] = [g.dataset.ok, g.querySelector("[data-count]").textContent, g.querySelector(".err").textContent];
        }
        window.polydemo.render({taken_at: 0, services: null, projectors: null, feed: null, kafka: {partitions: null,
                                groups: [null]}});
        return out;
        """,
        down,
        list(STORES),
    )
    for node, (ok, shown, error) in drawn.items():
        assert ok == "false" and shown == "—", f"{node}: data-ok {ok}, count {shown!r}"
        assert "refused" in error, f"{node} does not show its error: {error!r}"
    logs = [e for e in page.get_log("browser") if e["level"] == "SEVERE" and "app.js" in e["message"]]
    assert not logs, logs
