"""The audience mode in Debian's chromium: a phone (390x844) on the audience's listener and the big screen
(1280x720) on the presenter's, both driven by Selenium, over the suite's real stack and gateway.

Nothing is mocked. The conftest's ``audience`` fixture restarts the suite's gateway in audience mode (the audience's
listener on 127.0.0.2) and yields ``.presenter`` (the presenter's base URL, 127.0.0.1), ``.audience`` (the
audience's base URL) and ``.code`` (the join code). The hooks read here: on the phone ``#join-name``,
``#join-submit``, ``#post-title``, ``#post-submit``, ``[data-person-id] [data-action="follow"]``, ``[data-post-id]
[data-action="like"]``, ``#journey [data-hop][data-ms]`` (``data-ms`` empty while the hop is pending), ``#error``; on
the big screen ``#audience`` (``data-active``), ``#audience-code``, ``#audience-users[data-count]``,
``#audience-newest [data-user-id]``.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (``scripts/browser.sh``): without them every test here is
skipped, saying so. ``SE_OFFLINE=true``: Selenium Manager never downloads a driver.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest

from .browser import SHOTS, attr, chromium, click, fill, needs_chromium, no_scrolling, text, viewport, wait

PASSWORD = "secret123"
EVIL_NAME = "<img src=x onerror=alert(1)></script>"
# The hops of a follow (a Postgres write): its commit, Kafka, and the three read models.
FOLLOW_HOPS = ("postgres", "kafka", "redis", "neo4j", "timeseries")

pytestmark = needs_chromium


# ---------------------------------------------------------------------------------------------- browsers


@pytest.fixture(scope="module")
def phone_driver():
    drv = chromium(390, 844, mobile=True)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture(scope="module")
def screen_driver():
    drv = chromium(1280, 720, mobile=False)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture
def phone(phone_driver, audience):
    """The phone page on the audience's listener, signed out (its localStorage cleared), showing the join form."""
    url = f"{audience.audience}/join?code={audience.code}"
    phone_driver.get(url)
    if visible(phone_driver, "#leave"):
        click(phone_driver, "#leave")  # the page's own "leave": forgets the token (no late answer brings it back)
    phone_driver.execute_script("localStorage.clear()")
    phone_driver.get(url)
    wait(phone_driver, lambda d: visible(d, "#join-view"), 10, "the join form")
    return phone_driver


@pytest.fixture
def screen(screen_driver, audience):
    """The big screen (the presenter's page), live and showing the open audience session."""
    screen_driver.get(audience.presenter + "/")
    wait(screen_driver, lambda d: text(d, "#live-state") == "live", 20, "the live socket")
    wait(screen_driver, lambda d: attr(d, "#audience", "data-active") == "true", 20, "the audience panel")
    return screen_driver


# ---------------------------------------------------------------------------------------------- helpers


def visible(drv, css: str) -> bool:
    return bool(
        drv.execute_script(
            "const e = document.querySelector(arguments[0]); return !!e && !e.closest('[hidden]')"
            " && e.getBoundingClientRect().height > 0",
            css,
        )
    )


def js_click(drv, css: str) -> None:
    """A click on what the selector finds now (the waterfall is redrawn under the pointer: no stale element)."""
    assert drv.execute_script("const e = document.querySelector(arguments[0]); if (e) e.click(); return !!e", css), css


def said(drv) -> list[str]:
    """Every text the status line showed since ``listen_to_status``."""
    return drv.execute_script("return window.__said || []")


def listen_to_status(drv) -> None:
    drv.execute_script(
        "window.__said = []; const e = document.querySelector('#error');"
        "new MutationObserver(() => window.__said.push(e.textContent))"
        ".observe(e, {childList: true, characterData: true, subtree: true})"
    )


def hops(drv) -> dict[str, str]:
    """The phone's journey: hop node -> its ``data-ms`` ("" while pending)."""
    return drv.execute_script(
        "const out = {}; for (const e of document.querySelectorAll('#journey [data-hop]'))"
        " out[e.dataset.hop] = e.getAttribute('data-ms'); return out"
    )


def join(drv, name: str) -> dict:
    """Join from the phone's form; the user the page holds once the gateway answered."""
    fill(drv, "join-name", name)
    click(drv, "#join-submit")
    wait(drv, lambda d: visible(d, "#post-title") or text(d, "#error"), 15, "the phone to join")
    assert visible(drv, "#post-title"), f"join refused: {text(drv, '#error')!r}"
    return drv.execute_script("return window.polydemoJoin.state.user")


def post_from_phone(drv, title: str) -> None:
    fill(drv, "post-title", title)
    click(drv, "#post-submit")
    wait(drv, lambda d: "posted" in (text(d, "#error") or ""), 15, f"the post {title!r}")


def listed(drv, css: str) -> int:
    return drv.execute_script("return document.querySelectorAll(arguments[0]).length", css)


def users_count(drv) -> int:
    return int(attr(drv, "#audience-users", "data-count") or 0)


def no_alert(drv) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        _ = drv.switch_to.alert  # no alert() ran


# ---------------------------------------------------------------------------------------------- the tests
def test_a_phone_joins_posts_follows_and_sees_its_write_travel_hop_by_hop(phone):
    tag = uuid.uuid4().hex[:6]
    me = join(phone, f"Phone {tag}")
    assert me and me["id"], me
    assert phone.execute_script("return JSON.parse(localStorage.getItem('polydemo-audience')).token"), "no token kept"
    # Its sign-up is its first write: committed in Postgres and in the read models.
    wait(phone, lambda d: all(hops(d).get(n) for n in FOLLOW_HOPS), 20, f"the sign-up's hops (shown: {hops(phone)})")

    post_from_phone(phone, f"hello room {tag}")
    got = wait(phone, lambda d: (h := hops(d)).get("mongo") and h.get("timeseries") and h, 20, "the post's hops")
    assert got.get("kafka"), got
    assert "your post" in text(phone, "#journey-what"), text(phone, "#journey-what")
    wait(phone, lambda d: f"hello room {tag}" in (text(d, "#posts") or ""), 10, "the post among the recent posts")

    # Follow the first person listed: the journey is the follow's, pending first, then every hop with its ms.
    person = wait(phone, lambda d: attr(d, "[data-person-id]", "data-person-id"), 10, "someone to follow")
    assert person != me["id"], "the phone is offered to follow itself"
    t0 = time.monotonic()
    click(phone, f'[data-person-id="{person}"] [data-action="follow"]')
    seen_pending = False

    def arrived(d):
        nonlocal seen_pending
        if "follow" not in (text(d, "#journey-what") or ""):
            return None
        h = hops(d)
        seen_pending = seen_pending or any(v == "" for v in h.values())
        return h if all(h.get(n) for n in FOLLOW_HOPS) else None

    got = wait(phone, arrived, 20, f"the follow's hops with their ms (shown: {hops(phone)})")
    took = time.monotonic() - t0
    assert seen_pending, "no hop of the follow was ever shown pending (data-ms empty) before it was known"
    ms = {n: float(got[n]) for n in FOLLOW_HOPS}
    assert ms["postgres"] == 0 and all(ms[n] >= ms["kafka"] > 0 for n in ("redis", "neo4j", "timeseries")), ms
    journey = text(phone, "#journey")
    for stage in ("committed in Postgres", "on Kafka", "in Redis", "in Neo4j", "in the time-series store"):
        assert stage in journey, f"{stage!r} not in the journey {journey!r}"
    assert re.search(r"\+\d+ ms", journey), journey
    assert attr(phone, f'[data-person-id="{person}"] button', "data-action") == "unfollow"
    print(f"\n[audience] follow journey {ms} on the phone {took:.1f}s after the tap")

    # A like, one tap.
    click(phone, '[data-post-id] [data-action="like"]')
    wait(phone, lambda d: (text(d, "#error") or "") == "liked", 10, f"the like (status: {text(phone, '#error')!r})")

    # A reload keeps the phone signed in.
    phone.refresh()
    wait(phone, lambda d: visible(d, "#post-title"), 10, "the phone still signed in after a reload")
    assert text(phone, "#who") == me["name"]


def test_the_big_screen_counts_the_phone_that_joins_and_shows_its_name(screen, phone, audience):
    assert text(screen, "#audience-code") == audience.code
    assert audience.code in (text(screen, "#audience-url") or ""), text(screen, "#audience-url")
    assert attr(screen, "#audience-qr", "src").startswith("/api/audience/qr.svg")
    assert screen.execute_script("return document.querySelector('#audience-qr').naturalWidth") > 0, "no QR drawn"
    size = screen.execute_script("return document.querySelector('#audience-qr').getBoundingClientRect().width")
    assert size >= 200, f"the QR code is {size:.0f}px wide at 1280x720: too small to scan from the room"
    before = users_count(screen)
    name = f"Screen Watcher {uuid.uuid4().hex[:6]}"
    me = join(phone, name)
    t0 = time.monotonic()
    after = wait(screen, lambda d: (n := users_count(d)) > before and n, 10, f"the counter to go up from {before}")
    wait(screen, lambda d: name in (text(d, f'#audience-newest [data-user-id="{me["id"]}"]') or ""), 5, "the name")
    assert text(screen, "#audience-newest [data-user-id] .name") == name, "the newest name is not listed first"
    assert int(attr(screen, "#audience-writes", "data-count") or 0) >= 1
    assert attr(screen, "#audience-lag", "data-lag") != "", "no lag shown"
    print(f"\n[audience] big screen: {before} -> {after} joined, {time.monotonic() - t0:.1f}s after the join")


def test_names_and_titles_are_text_on_the_phone_and_on_the_big_screen(screen, phone):
    title = f"<b>x</b> {uuid.uuid4().hex[:6]}"
    me = join(phone, EVIL_NAME)
    assert text(phone, "#who") == EVIL_NAME
    post_from_phone(phone, title)
    wait(phone, lambda d: title in (text(d, "#posts") or ""), 10, "the title among the phone's posts")
    wait(phone, lambda d: title in (text(d, "#journey-what") or ""), 20, "the title in the phone's journey")
    assert phone.execute_script("return document.querySelectorAll('img, b b, #posts b').length") == 0
    no_alert(phone)

    wait(screen, lambda d: text(d, f'#audience-newest [data-user-id="{me["id"]}"] .name') == EVIL_NAME, 10, "name")
    wait(screen, lambda d: title in (text(d, "#waterfall") or ""), 20, "the title in the big screen's waterfall")
    wait(screen, lambda d: title in (text(d, "#feed") or ""), 20, "the title in the big screen's feed")
    images = screen.execute_script("return [...document.querySelectorAll('img')].map((e) => e.id)")
    assert images == ["audience-qr"], f"user text became an element: images {images}"
    assert screen.execute_script("return document.querySelectorAll('#waterfall b b, #feed b b').length") == 0
    no_alert(screen)


def test_the_big_screen_does_not_scroll_at_1280x720_with_the_audience_panel(screen):
    sh, ih, sw, iw = no_scrolling(screen)
    assert (iw, ih) == (1280, 720)
    assert sh <= ih and sw <= iw, f"the big screen scrolls at 1280x720: {sh}x{sw} in {ih}x{iw}"
    assert visible(screen, "#audience") and visible(screen, "#waterfall") and visible(screen, "#feed")
    # The panel's own box holds it (the QR code, the code and the newest names are not cut off).
    overflow = screen.execute_script(
        "const b = document.querySelector('#audience').getBoundingClientRect();"
        "return ['#audience-qr', '#audience-code', '#audience-end'].filter((s) => {"
        " const r = document.querySelector(s).getBoundingClientRect();"
        " return r.bottom > b.bottom + 1 || r.right > b.right + 1; })"
    )
    assert not overflow, f"cut off in the audience panel: {overflow}"
    try:
        viewport(screen, 1920, 1080)
        screen.refresh()
        wait(screen, lambda d: attr(d, "#audience", "data-active") == "true", 20, "the panel at 1920x1080")
        sh, ih, sw, iw = no_scrolling(screen)
        assert (iw, ih) == (1920, 1080)
        assert sh <= ih and sw <= iw, f"the big screen scrolls at 1920x1080: {sh}x{sw} in {ih}x{iw}"
    finally:
        viewport(screen, 1280, 720)


def test_screenshots_of_the_phone_and_the_big_screen(screen, phone):
    SHOTS.mkdir(parents=True, exist_ok=True)
    join(phone, "Grace Hopper")
    post_from_phone(phone, "one write, every store")
    click(phone, '[data-person-id] [data-action="follow"]')
    wait(phone, lambda d: all(hops(d).get(n) for n in FOLLOW_HOPS) and "follow" in text(d, "#journey-what"), 20, "hops")
    wait(phone, lambda d: not visible(d, "#error"), 6, "the status line to clear")
    phone.execute_script("window.scrollTo(0, 0)")
    phone.save_screenshot(str(SHOTS / "audience-phone.png"))
    wait(screen, lambda d: "Grace Hopper" in (text(d, "#audience-newest") or ""), 10, "the name on the big screen")
    time.sleep(1.5)  # a snapshot and its edges drawn
    screen.save_screenshot(str(SHOTS / "audience-screen.png"))
    for shot, size in (("audience-phone.png", (390, 844)), ("audience-screen.png", (1280, 720))):
        data = (SHOTS / shot).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, f"{shot} looks empty"
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert (width, height) == size, f"{shot} is {width}x{height}, not {size}"


def test_a_phone_tapping_too_fast_is_told_to_slow_down_and_its_tap_is_retried(phone):
    join(phone, f"Fast Fingers {uuid.uuid4().hex[:6]}")
    wait(phone, lambda d: listed(d, "[data-post-id]") >= 6, 10, "six posts to like")
    listen_to_status(phone)
    # Six likes at once from a fresh token (the limit: 2 writes a second, bursts of 5): the sixth is refused, the
    # phone says "slow down" and sends it again by itself after retryAfterMs, and then it goes through.
    phone.execute_script(
        "[...document.querySelectorAll('[data-post-id] [data-action=\"like\"]')].slice(0, 6).forEach((b) => b.click())"
    )
    wait(phone, lambda d: any("slow down" in t for t in said(d)), 5, "slow down")
    liked = wait(
        phone,
        lambda d: d.execute_script("return document.querySelectorAll('[data-post-id] .liked').length") == 6,
        10,
        f"all six likes, the refused one retried (said: {said(phone)})",
    )
    assert liked and said(phone)[-1] == "liked", said(phone)


def test_the_presenter_hides_a_post_and_removes_a_name_from_the_big_screen(screen, phone, audience):
    # The presenter's session: signed up on the big screen's own form.
    email = f"presenter-{uuid.uuid4().hex[:10]}@example.org"
    fill(screen, "signup-email", email)
    fill(screen, "signup-name", "Presenter")
    fill(screen, "signup-password", PASSWORD)
    click(screen, "#signup-submit")
    wait(screen, lambda d: d.execute_script("return !!window.polydemo.state.token"), 15, "the presenter signed in")

    title = f"please hide me {uuid.uuid4().hex[:6]}"
    me = join(phone, f"Hider {uuid.uuid4().hex[:6]}")
    post_from_phone(phone, title)
    wait(phone, lambda d: title in (text(d, "#posts") or ""), 10, "the post among the phone's posts")
    post_id = phone.execute_script(
        "for (const e of document.querySelectorAll('[data-post-id]'))"
        " if (e.textContent.includes(arguments[0])) return e.dataset.postId; return null",
        title,
    )
    assert post_id, "the phone does not list its post"
    hide = f'#waterfall [data-action="hide"][data-post-id="{post_id}"]'
    wait(screen, lambda d: visible(d, hide), 20, "the post's hide button in the big screen's waterfall")
    js_click(screen, hide)
    wait(screen, lambda d: title not in (text(d, "#waterfall") or "") + (text(d, "#feed") or ""), 10, "title gone")
    assert "hidden" in text(screen, "#waterfall")
    wait(screen, lambda d: post_id in (d.execute_script("return window.polydemo.audience.hidden") or []), 5, "hidden")
    phone.refresh()
    wait(phone, lambda d: listed(d, "[data-post-id]") > 0, 10, "the phone's posts")
    assert title not in text(phone, "#posts"), "the phone still lists the hidden post"

    remove = f'#audience-newest [data-user-id="{me["id"]}"] [data-action="remove"]'
    wait(screen, lambda d: visible(d, remove), 10, "the name's remove button")
    js_click(screen, remove)
    wait(screen, lambda d: not d.execute_script("return !!document.querySelector(arguments[0])", remove), 10, "gone")
    time.sleep(1.5)  # the next audience message must not bring it back
    assert me["id"] not in (text(screen, "#audience-newest") or "")
    assert not screen.execute_script("return !!document.querySelector(arguments[0])", remove)


def test_the_presenter_ends_the_audience_and_the_phone_says_the_session_has_ended(screen, phone, audience):
    join(phone, f"Last One {uuid.uuid4().hex[:6]}")
    if not screen.execute_script("return !!window.polydemo.state.token"):
        fill(screen, "signup-email", f"presenter-{uuid.uuid4().hex[:10]}@example.org")
        fill(screen, "signup-name", "Presenter")
        fill(screen, "signup-password", PASSWORD)
        click(screen, "#signup-submit")
        wait(screen, lambda d: d.execute_script("return !!window.polydemo.state.token"), 15, "the presenter signed in")
    try:
        click(screen, "#audience-end")
        assert "really" in text(screen, "#audience-end"), "ending the audience is not confirmed by a second click"
        click(screen, "#audience-end")
        wait(screen, lambda d: attr(d, "#audience", "data-active") == "false", 10, "the panel to go")
        assert not visible(screen, "#audience") and visible(screen, "#partitions")
        assert listed(screen, "img") == 0, "the QR code is still on the page"
        # The phone finds out at its next poll (about a second).
        wait(phone, lambda d: "this session has ended" in (text(d, "#error") or ""), 10, "the phone to say so")
        assert visible(phone, "#ended-view") and not visible(phone, "#post-title")
        assert phone.execute_script("return localStorage.getItem('polydemo-audience')") is None, "token still kept"
        no_alert(phone)
    finally:
        audience.restart()  # a new session (a new code) for whatever runs after
