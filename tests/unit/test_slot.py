"""Issue 9: what the screen says about the replication slot (pure rendering of recorded slot states)."""

from __future__ import annotations

from polydemo.config import PROJECT_ROOT
from polydemo.dashboard.render import BAD, SLOT_AGE_WARN_S, WARN, slot_warning
from polydemo.dashboard.snapshot import SlotData
from polydemo.runtime.services import SLOT_WAL_CAP
from polydemo.views import slot_line

GB = 1024**3


def slot(**kw) -> SlotData:
    base = {
        "name": "polydemo_slot",
        "exists": True,
        "active": True,
        "wal_status": "reserved",
        "retained_bytes": 200_000,
        "unsent_bytes": 200_000,
        "safe_bytes": GB - 200_000,
        "cap_bytes": GB,
    }
    return SlotData(**{**base, **kw})


def test_a_healthy_slot_says_nothing_in_the_footer():
    assert slot_warning(slot()) is None
    assert "nothing unsent" in slot_line(slot()).plain


def test_an_old_unsent_change_is_named_with_its_age_and_the_cap():
    msg, style = slot_warning(slot(active=False, oldest_unsent_age_s=SLOT_AGE_WARN_S + 37))
    assert "oldest unsent change 42s old" in msg and "of the 1.00 GB cap" in msg and style == WARN
    assert "not read" in slot_line(slot(active=False, oldest_unsent_age_s=42)).plain


def test_near_the_cap_and_over_it():
    msg, _ = slot_warning(slot(retained_bytes=int(0.8 * GB)))
    assert "holds 819.2 MB of WAL of the 1.00 GB cap" in msg
    msg, _ = slot_warning(slot(retained_bytes=int(1.1 * GB), wal_status="unreserved"))
    assert "invalidated at the next checkpoint" in msg


def test_an_invalidated_slot_says_what_happened_and_how_to_recover():
    msg, style = slot_warning(slot(wal_status="lost", invalidated=True))
    assert style == BAD and "invalidated" in msg and "`polydemo reset`" in msg and "1.00 GB cap" in msg
    assert len(msg) <= 98, "the fix must fit a 100-column frame's footer"
    line = slot_line(slot(wal_status="lost", invalidated=True)).plain
    assert "INVALIDATED" in line and "polydemo reset" in line


def test_no_slot_yet():
    assert "does not exist" in slot_warning(SlotData("polydemo_slot", False))[0]


def test_the_cap_is_the_same_on_both_runtimes():
    assert SLOT_WAL_CAP == "1GB"
    compose = (PROJECT_ROOT / "docker-compose.yml").read_text()
    assert f"max_slot_wal_keep_size={SLOT_WAL_CAP}" in compose and "track_commit_timestamp=on" in compose


def test_the_postgres_panel_names_only_an_unsent_change_worth_a_look():
    from polydemo.dashboard.render import _slot_text

    assert _slot_text(slot(oldest_unsent_age_s=1.5)).plain == ""  # Debezium confirms within about a second
    assert _slot_text(slot(oldest_unsent_age_s=42)).plain == " · unsent 42s"
    assert _slot_text(slot(wal_status="lost", invalidated=True)).plain == " · slot LOST"
