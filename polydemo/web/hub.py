"""One collector for every client: the snapshot and the flows are read once and pushed to every open tab.

Two background threads: one collects the dashboard's Snapshot (the same collector the Rich dashboard uses)
about once a second, one reads the projectors' rings (``pipeline.trace.read_recent``) every quarter second and
turns new hops into flows (``web/flows.py``). Each message is serialised to JSON once and put on every
subscriber's queue on the event loop (a slow tab drops its oldest messages, never blocks the others), so ten
tabs cost about what one costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from polydemo.config import Settings
from polydemo.web.flows import PROJECTOR_STORE, FlowTracker, flows_from

log = logging.getLogger(__name__)

QUEUE_MAX = 256
HIDDEN = "(hidden)"


def scrub(snapshot: dict, hidden: set[str]) -> dict:
    """The snapshot without the titles of hidden posts (the latest posts, the event feed's details) (pure)."""
    if not hidden:
        return snapshot
    for post in (snapshot.get("mongo") or {}).get("latest") or []:
        if post.get("id") in hidden:
            post["title"] = HIDDEN
    for item in snapshot.get("feed") or []:
        key = str(item.get("key") or "")
        if "post" in str(item.get("topic") or "") and key and any(h.startswith(key) for h in hidden):
            item["detail"] = HIDDEN
    return snapshot


def with_states(snapshot: dict) -> dict:
    """Each service with its ``state`` as the terminal names it: "healthy", "not answering" (frozen: it took
    the connection and said nothing in time) or "down" (pure)."""
    from polydemo.errors import silent

    for svc in snapshot.get("services") or []:
        error = svc.get("error")
        svc["state"] = "healthy" if svc.get("ok") else ("not answering" if error and silent(error) else "down")
    return snapshot


class Hub:
    def __init__(
        self,
        settings: Settings,
        collect: Callable[[], Any],
        recent: Callable[[Settings, str], list[dict] | None],
        snapshot_every_s: float = 1.0,
        flows_every_s: float = 0.25,
        names: Callable[[str, list[str]], dict[str, str]] | None = None,
    ):
        self.settings = settings
        self._collect = collect  # () -> Snapshot
        self._recent = recent
        self.snapshot_every_s = snapshot_every_s
        self.flows_every_s = flows_every_s
        self.tracker = FlowTracker()
        self.labels: dict[str, str] = {}  # id -> a user's name or a post's title
        self._names = names  # (entity "user" | "post", ids) -> id -> label: asked once per id (None: short ids)
        self._asked: set[str] = set()
        self.snapshot: dict | None = None
        self.snapshot_text: str | None = None
        self.extra_messages: dict[str, Any] = {}  # the last of each extra message, for a tab that opens now
        self.hidden: set[str] = set()  # post ids the presenter hid: their titles are never pushed
        self.snapshots = 0
        self._subs: set[asyncio.Queue[str]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.extra: Callable[[], dict[str, Any]] | None = None  # more messages with each snapshot (the audience's)

    # ------------------------------------------------------------ lifecycle (the ASGI lifespan)
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        for target, name in ((self._snapshot_loop, "web-snapshot"), (self._flows_loop, "web-flows")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)

    # ------------------------------------------------------------ subscribers
    def subscribe(self) -> asyncio.Queue[str]:
        q: asyncio.Queue[str] = asyncio.Queue(QUEUE_MAX)
        self._subs.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[str]) -> None:
        self._subs.discard(q)

    @property
    def clients(self) -> int:
        return len(self._subs)

    def publish(self, kind: str, data: Any) -> None:
        """Push one message to every subscriber (from any thread)."""
        text = json.dumps({"type": kind, "data": data}, default=str)
        if self._loop is None or self._loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call: shutting down
            self._loop.call_soon_threadsafe(self._fanout, text)

    def _fanout(self, text: str) -> None:
        for q in list(self._subs):
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()  # a slow client loses its oldest message, not the newest
            q.put_nowait(text)

    def hide(self, post_id: str) -> None:
        """A post the presenter hid: its flows are labelled "(hidden)" from now on."""
        self.hidden.add(post_id)
        with self._lock:
            self.labels[post_id] = HIDDEN
        for flow in self.tracker.flows.values():
            if flow["entity"] == "post" and flow["key"] == post_id:
                flow["label"] = HIDDEN

    def remember(self, user_id: str, name: str | None) -> None:
        if name:
            with self._lock:
                self.labels[user_id] = name

    # ------------------------------------------------------------ the two readers
    def _snapshot_loop(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                snap = self._collect()
                data = with_states(scrub(snap.to_dict(), self.hidden))
                if snap.postgres is not None:
                    for row in snap.postgres.latest:
                        self.remember(row.id, row.name)
                self.snapshot = data
                self.snapshot_text = json.dumps({"type": "snapshot", "data": data}, default=str)
                self.snapshots += 1
                self.publish("snapshot", data)
                self.publish("edges", self.tracker.edge_counts(time.time() * 1000))
                for kind, data in (self.extra() if self.extra else {}).items():
                    self.extra_messages[kind] = data
                    self.publish(kind, data)
            # broad: the collector reports each store's failure inside the snapshot; anything else it raises
            # (a bug, a store library's surprise) must not end the thread that feeds every tab: logged, retried
            except Exception:
                log.exception("collecting the snapshot failed; retrying")
            self._stop.wait(max(0.05, self.snapshot_every_s - (time.monotonic() - t0)))

    def _label(self, recents: dict[str, list[dict] | None]) -> None:
        """Ask for the names and titles of the ids the rings mention that no label is known for (once each)."""
        if self._names is None:
            return
        wanted: dict[str, set[str]] = {"user": set(), "post": set()}
        for ring in recents.values():
            for rec in ring or ():
                kind = "post" if rec.get("entity") == "post" else "user"
                wanted[kind].update(str(v) for v in (rec.get("key") or {}).values())
        for kind, ids in wanted.items():
            todo = sorted(ids - self._asked - set(self.labels))
            if not todo:
                continue
            self._asked.update(todo)
            try:
                found = self._names(kind, todo)
            # broad: a store down or slow only costs the labels (short ids are drawn): logged, asked again later
            except Exception:
                log.warning("looking up %d %s label(s) failed", len(todo), kind, exc_info=True)
                self._asked.difference_update(todo)
                continue
            with self._lock:
                self.labels.update(found)
        if len(self._asked) > 100_000:  # bounded: a long burst does not grow it for ever
            self._asked.clear()

    def read_flows(self) -> list[dict]:
        recents = {name: self._recent(self.settings, name) for name in PROJECTOR_STORE}
        self._label(recents)
        with self._lock:
            labels = dict(self.labels)
        return self.tracker.update(flows_from(recents, labels))

    def _flows_loop(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                changed = self.read_flows()
                if not first:  # the rings' history at start is not news: it is served by /api/flows
                    for flow in changed:
                        self.publish("flow", flow)
                first = False
            # broad: a status file half-written or unreadable is skipped by read_recent; anything else must not
            # end the thread: logged, retried
            except Exception:
                log.exception("reading the projectors' rings failed; retrying")
            self._stop.wait(self.flows_every_s)
