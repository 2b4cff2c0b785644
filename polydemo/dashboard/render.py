"""Draw one dashboard frame: Snapshot (+ the previous one, + an optional scenario) -> a Rich renderable.

Pure: no I/O and no clock (ages are relative to ``snapshot.taken_at``), so recorded snapshots render
the same way in tests. The frame is laid out for ``width`` x ``height`` cells: every line is cropped,
never wrapped, and every panel has a fixed height, so the frame never grows past ``height``; when
space runs short, rows are dropped first, then whole panels (lowest priority first).
Nothing is told by colour alone: new rows carry ``+``, lag trends ``↑``/``↓``, states are spelled out,
so the plain text (NO_COLOR, or a recording) reads the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.constrain import Constrain
from rich.markup import escape
from rich.measure import Measurement
from rich.panel import Panel
from rich.segment import Segment
from rich.text import Text

from polydemo.console import visible
from polydemo.dashboard.model import GroupLag, KafkaData, ServiceHealth, Snapshot, TopicSchema
from polydemo.errors import silent
from polydemo.pipeline.schemas import Diff
from polydemo.views import human_bytes, human_duration

SPARK = "▁▂▃▄▅▆▇█"
OK, BAD, WARN, DIM, NEW = "bold green", "bold red", "bold yellow", "dim", "bold green"
STATE_STYLE = {
    "RUNNING": OK,
    "running": OK,
    "PAUSED": WARN,
    "retrying": WARN,
    "starting": WARN,
    "UNASSIGNED": WARN,
    "UNREGISTERED": WARN,
    "FAILED": BAD,
    "stopped": BAD,
    "unknown": WARN,
}
MAIN_TOPICS = ("public.users", "public.follows", "social.posts")
FEED_OPS = {
    "insert": "new",
    "update": "upd",
    "replace": "upd",
    "delete": "del",
    "snapshot": "snap",
    "dead letter": "DLQ",
    "tombstone": "tomb",
}


# ---------------------------------------------------------------- small formatters (pure)


def sparkline(values: list[int]) -> str:
    """One cell per value: ▁ for zero (and the smallest), █ for the largest; any non-zero value shows above ▁."""
    hi = max(values, default=0)
    if hi <= 0:
        return SPARK[0] * len(values)
    out = []
    for v in values:
        if v <= 0:
            out.append(SPARK[0])
        else:
            out.append(SPARK[max(1, min(7, -(-v * 7 // hi)))])
    return "".join(out)


def lag_age(seconds: float | None) -> str:
    """Lag as time: "0s", "1.4s", "73s"; "?" when the oldest unconsumed change could not be read."""
    if seconds is None:
        return "?"
    if seconds <= 0:
        return "0s"
    return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"


def clock(ts: float | None) -> str:
    """Local wall-clock time, HH:MM:SS."""
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S") if ts else "--:--:--"


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 1:
        return "now"
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def ttl_text(ttl: int | None) -> str:
    if ttl is None:
        return "not in Redis yet"
    if ttl < 0:
        return "projected"  # no expiry: the projection is complete (stores/cache.py)
    return f"TTL {ttl // 60}m{ttl % 60:02d}s" if ttl >= 60 else f"TTL {ttl}s"


def _ts(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def delta(cur: int | None, old: int | None) -> str:
    if cur is None or old is None or cur == old:
        return ""
    return f" ({cur - old:+d})"


def arrow(cur: int | None, old: int | None) -> str:
    if cur is None or old is None or cur == old:
        return ""
    return "↑" if cur > old else "↓"


T = TypeVar("T")


def _present(data: T | None) -> T:
    """A store's data in a panel drawn only when the store answered (``_is_down`` was checked first)."""
    if data is None:
        raise ValueError("a panel was drawn for a store with no data")
    return data


def lag_style(lag: int, old: int | None) -> str:
    if lag <= 0:
        return OK
    return BAD if lag >= 100 or (old is not None and lag > old) else WARN


def _line(*parts, style: str = "") -> Text:
    """One cropped line from (text, style) pairs or plain strings."""
    text = Text(no_wrap=True, overflow="ellipsis", style=style)
    for part in parts:
        if isinstance(part, tuple):
            text.append(*part)
        elif isinstance(part, Text):
            text.append_text(part)
        else:
            text.append(visible(str(part)))
    return text


def _table(
    rows: list[tuple], justify: tuple[str, ...], width: int, flexible: tuple[int, ...] = (0,), header: bool = False
) -> list[Text]:
    """Rows of cells as aligned one-line Texts, ``width`` cells wide (cells are cropped with an ellipsis).

    Columns take their natural width; the ``flexible`` ones share what is left (and are the ones cropped).
    Laid out by hand: a Rich Table would measure every cell of every panel on every frame.
    """
    if not rows:
        return []
    ncol = len(justify)
    cells = [[c if isinstance(c, Text) else Text(visible(c)) for c in row] for row in rows]
    natural = [max(cell_len(r[i].plain) for r in cells) for i in range(ncol)]
    flex = [i for i in flexible if i < ncol]
    widths = list(natural)
    room = width - sum(natural[i] for i in range(ncol) if i not in flex) - (ncol - 1)
    if flex:
        need = sum(natural[i] for i in flex)
        if need <= room:
            widths[flex[0]] += room - need  # fill the line, so right-aligned columns meet the border
        else:  # share the room fairly: narrow columns keep their width, wide ones are cropped
            share, todo = max(0, room), sorted(flex, key=lambda i: natural[i])
            while todo:
                each = share // len(todo)
                if natural[todo[0]] <= each:
                    widths[todo[0]] = natural[todo[0]]
                    share -= natural[todo[0]]
                    todo.pop(0)
                    continue
                for k, i in enumerate(todo):
                    widths[i] = each + (1 if k < share - each * len(todo) else 0)
                break
    out = []
    for r, row in enumerate(cells):
        line = Text(no_wrap=True, overflow="ellipsis", style=DIM if header and r == 0 else "")
        for i, (cell, w) in enumerate(zip(row, widths, strict=True)):
            if i:
                line.append(" ")
            cell = cell.copy()
            if cell_len(cell.plain) > w:
                cell.truncate(w, overflow="ellipsis")
            gap = w - cell_len(cell.plain)
            if justify[i] == "right":
                cell.pad_left(gap)
            else:
                cell.pad_right(gap)
            line.append_text(cell)
        out.append(line)
    return out


def _mark(is_new: bool) -> Text:
    return Text("+", style=NEW) if is_new else Text(" ")


# ---------------------------------------------------------------- staleness


def _not_yet_sent(snap: Snapshot) -> str:
    """Why a projection with lag 0 is still behind: the changes have not reached Kafka yet."""
    state = snap.connect.state if snap.connect is not None and snap.ok("connect") else None
    if state is None:
        return "lag 0: Connect is down, changes wait in the replication slot"
    if state != "RUNNING":
        return f"lag 0: connector {state}, changes wait in the replication slot"
    return "lag 0: Debezium has not sent the change yet"


def approx(estimated: bool) -> str:
    """The mark of a count that is the planner's estimate (large tables), not an exact count."""
    return "≈" if estimated else ""


def staleness(snap: Snapshot) -> list[tuple[str, str]]:
    """(message, style) comparing the read models' counts with Postgres, the source of truth."""
    pg = snap.postgres if snap.ok("postgres") else None
    if pg is None:
        return disk_warnings(snap)  # a full disk is what stopped Postgres, maybe: say so
    lags = {g.projector: g.lag for g in (snap.kafka.groups if snap.kafka and snap.ok("kafka") else [])}
    out: list[tuple[str, str]] = []
    synced = []
    if pg.users_estimated or pg.follows_estimated:
        return _staleness_by_lag(snap, pg, lags)
    if snap.redis is not None and snap.ok("redis"):
        behind = pg.users - snap.redis.profiles
        lag = lags.get("cache")
        if behind > 0 or (behind < 0 and snap.redis.profiles_exact):
            note = f" (cache lag {lag})" if lag else (f" ({_not_yet_sent(snap)})" if lag == 0 and behind > 0 else "")
            what = (
                f"Redis is {behind} user{'s' if behind != 1 else ''} behind Postgres"
                if behind > 0
                else f"Redis has {-behind} user{'s' if behind != -1 else ''} more than Postgres"
            )
            out.append((f"⚠ {what}{note}", WARN))
        else:
            synced.append("Redis")
    if snap.neo4j is not None and snap.ok("neo4j"):
        users_behind = pg.users - snap.neo4j.users
        follows_behind = pg.follows - snap.neo4j.follows
        lag = lags.get("graph")
        parts = []
        if users_behind:
            parts.append(
                f"{abs(users_behind)} user{'s' if abs(users_behind) != 1 else ''} "
                f"{'behind' if users_behind > 0 else 'ahead of'}"
            )
        if follows_behind:
            parts.append(
                f"{abs(follows_behind)} follow{'s' if abs(follows_behind) != 1 else ''} "
                f"{'behind' if follows_behind > 0 else 'ahead of'}"
            )
        if parts:
            if len(parts) == 2 and parts[0].endswith("behind") and parts[1].endswith("behind"):
                parts[0] = parts[0].removesuffix(" behind")
            out.append((f"⚠ Neo4j is {' and '.join(parts)} Postgres{f' (graph lag {lag})' if lag else ''}", WARN))
        else:
            synced.append("Neo4j")
    out[:0] = _alerts(snap, pg)
    if synced:
        out.append(
            (
                f"✔ {' and '.join(synced)} in sync with Postgres ({pg.users} users"
                f"{f', {pg.follows} follows' if 'Neo4j' in synced else ''})",
                OK,
            )
        )
    return out


def _staleness_by_lag(snap: Snapshot, pg, lags: dict) -> list[tuple[str, str]]:
    """At scale Postgres' counts are estimates, so a difference of counts proves nothing: say what the lag says."""
    out: list[tuple[str, str]] = []
    synced = []
    for store, projector, data in (("Redis", "cache", snap.redis), ("Neo4j", "graph", snap.neo4j)):
        if data is None or not snap.ok(store.lower()):
            continue
        lag = lags.get(projector)
        if lag:
            out.append((f"⚠ {store} is {lag} change{'s' if lag != 1 else ''} behind Postgres ({projector} lag)", WARN))
        elif lag == 0:
            synced.append(store)
    out[:0] = _alerts(snap, pg)
    if synced:
        out.append((f"✔ {' and '.join(synced)} caught up with Postgres (lag 0; ≈{pg.users} users)", OK))
    return out


def _alerts(snap: Snapshot, pg) -> list[tuple[str, str]]:
    """The footer's first lines, whatever the counts say: Redis near its maxmemory, then the slot."""
    return [line for line in (*disk_warnings(snap), redis_memory_warning(snap), slot_warning(pg.slot)) if line]


def disk_warnings(snap: Snapshot) -> list[tuple[str, str]]:
    """A footer line per service whose data directory is full (or low): which directory, its free space, the fix."""
    return [
        (f"{'✘' if s.disk == 'full' else '⚠'} {visible(s.disk_line)}", BAD if s.disk == "full" else WARN)
        for s in snap.services
        if s.disk and s.disk_line
    ]


SLOT_AGE_WARN_S = 5.0  # an unsent change older than this is worth a line
REDIS_FULL_WARN = 0.9  # share of maxmemory from which the footer warns (noeviction: at 100 % writes are refused)


def redis_memory_warning(snap: Snapshot) -> tuple[str, str] | None:
    """A footer line when Redis nears its maxmemory: with ``noeviction`` a full Redis refuses the cache
    projector's writes, the cache stops following Postgres, and only the lag would say so."""
    r = snap.redis if snap.ok("redis") else None
    if r is None or not r.maxmemory or r.used_memory is None:
        return None
    share = r.used_memory / r.maxmemory
    if share < REDIS_FULL_WARN:
        return None
    state = "refuses the cache's writes" if share >= 0.99 else "will refuse the cache's writes when full"
    return (
        f"⚠ Redis is {min(share, 1.0):.0%} full ({human_bytes(r.used_memory)} of {human_bytes(r.maxmemory)}): "
        f"it {state} · `polydemo reset`",
        BAD if share >= 0.99 else WARN,
    )


def slot_warning(slot) -> tuple[str, str] | None:
    """A footer line when the replication slot needs attention: invalidated, near its cap, or holding old changes."""
    if slot is None:
        return None
    if not slot.exists:
        return (f"⚠ replication slot {slot.name} does not exist: Debezium makes it when the connector starts", WARN)
    cap = f" of the {human_bytes(slot.cap_bytes)} cap" if slot.cap_bytes else ""
    if slot.invalidated:
        # Fits 100 columns with the fix in it: the changes the slot held are gone (docs/talk-mode.md, "Stage-proof").
        over = f" (WAL over the {human_bytes(slot.cap_bytes)} cap)" if slot.cap_bytes else ""
        return (f"✘ CDC stopped: the slot was invalidated{over} · run `polydemo reset`", BAD)
    age = slot.oldest_unsent_age_s
    near = slot.cap_bytes and slot.retained_bytes is not None and slot.retained_bytes > slot.cap_bytes / 2
    if near or (age is not None and age >= SLOT_AGE_WARN_S):
        parts = [f"slot {slot.name} holds {human_bytes(slot.retained_bytes)} of WAL{cap}"]
        if age is not None:
            parts.append(f"oldest unsent change {human_duration(age)} old")
        if slot.wal_status == "unreserved":
            parts.append("over the cap: invalidated at the next checkpoint")
        return ("⚠ " + ", ".join(parts), BAD if near or slot.wal_status == "unreserved" else WARN)
    return None


# ---------------------------------------------------------------- panels
#
# A panel is a PanelSpec: its priority, how many body lines it would like, and a builder that makes
# exactly that many (or fewer) one-line Texts for a given inner width. The layout decides the lines.


@dataclass
class PanelSpec:
    key: str
    title: str
    priority: int  # higher is kept longer
    want: int  # body lines it would like
    build: Callable[[int, int], list[Text]]  # (body lines, inner width) -> lines
    minimum: int = 1
    subtitle: str | None = None


def down_word(svc: ServiceHealth | None) -> str:
    """A failed service as the screen names it: "not answering" (frozen: it took the connection and said
    nothing in time) or "down" (refused, gone)."""
    return "not answering" if svc is not None and svc.error and silent(svc.error) else "down"


def _is_down(snap: Snapshot, service: str) -> bool:
    return not snap.ok(service) or getattr(snap, service) is None


def _down_spec(snap: Snapshot, key: str, title: str, priority: int) -> PanelSpec:
    svc = snap.service(key)

    def build(n: int, w: int) -> list[Text]:
        word = down_word(svc)
        lines = [_line((f"✘ {word} since {clock(svc.down_since if svc else None)}", BAD))]
        if svc and svc.error:
            lines.append(_line((svc.error, DIM)))
        return lines[:n]

    return PanelSpec(key, title, priority, 2, build)


def _postgres(snap: Snapshot, prev: Snapshot | None) -> PanelSpec:
    if _is_down(snap, "postgres"):
        return _down_spec(snap, "postgres", "Postgres · users", 10)
    pg, old = _present(snap.postgres), (prev.postgres if prev and prev.postgres else None)
    seen = {u.id for u in old.latest} if old else None

    def build(n: int, w: int) -> list[Text]:
        head = _line(
            (f"{approx(pg.users_estimated)}{pg.users} users", "bold"),
            (delta(pg.users, old.users if old else None), NEW),
            f" · {approx(pg.follows_estimated)}{pg.follows} follows",
            (delta(pg.follows, old.follows if old else None), NEW),
            _slot_text(pg.slot),
        )
        if not pg.latest:
            return [head, _line(("no users yet", DIM))][:n]
        rows = []
        for u in pg.latest[: n - 1]:
            created = _ts(u.created_at)
            rows.append(
                (
                    _mark(seen is not None and u.id not in seen),
                    u.name or "-",
                    Text(visible(u.email), style=DIM),
                    age(snap.taken_at - created if created else None),
                )
            )
        return [head, *_table(rows, ("left", "left", "left", "right"), w, flexible=(1, 2))]

    return PanelSpec("postgres", "Postgres · users", 10, 1 + max(1, len(pg.latest)), build, subtitle="latest sign-ups")


def _slot_text(slot) -> Text:
    """`` · unsent 3s`` (warn) or `` · slot LOST`` (bad), for the Postgres panel's head; nothing when healthy."""
    if slot is None or not slot.exists:
        return Text("")
    if slot.invalidated:
        return Text(" · slot LOST", style=BAD)
    age = slot.oldest_unsent_age_s
    if age is not None and age >= SLOT_AGE_WARN_S:  # Debezium confirms within ~1 s: below this is normal
        return Text(f" · unsent {human_duration(age)}", style=WARN if age < SLOT_AGE_WARN_S * 12 else BAD)
    return Text("")  # a healthy slot says nothing here (status shows its size)


def _mongo(snap: Snapshot, prev: Snapshot | None) -> PanelSpec:
    if _is_down(snap, "mongo"):
        return _down_spec(snap, "mongo", "Mongo · posts", 6)
    mg, old = _present(snap.mongo), (prev.mongo if prev and prev.mongo else None)
    likes_before = {p.id: p.likes for p in old.latest} if old else None

    def build(n: int, w: int) -> list[Text]:
        if mg.posts is None:
            return [_line(("counting the posts…", DIM)), _line(("(a slow first read; shown when it ends)", DIM))][:n]
        head = _line(
            (f"{mg.posts} posts", "bold"),
            (delta(mg.posts, old.posts if old else None), NEW),
            (
                f" · as of {age(snap.taken_at - mg.as_of)} ago"
                if mg.as_of is not None and snap.taken_at - mg.as_of >= 1
                else "",
                DIM,
            ),
        )
        if not mg.latest:
            return [head, _line(("no posts yet", DIM))][:n]
        rows = []
        for p in mg.latest[: n - 1]:
            before = likes_before.get(p.id) if likes_before is not None else None
            rows.append(
                (
                    _mark(likes_before is not None and p.id not in likes_before),
                    p.title,
                    Text(
                        f"♥ {p.likes}{arrow(p.likes, before)}",
                        style=NEW if before is not None and p.likes > before else "",
                    ),
                )
            )
        return [head, *_table(rows, ("left", "left", "right"), w, flexible=(1,))]

    return PanelSpec("mongo", "Mongo · posts", 6, 1 + max(1, len(mg.latest)), build, subtitle="latest, likes")


def _neo4j(snap: Snapshot, prev: Snapshot | None) -> PanelSpec:
    if _is_down(snap, "neo4j"):
        return _down_spec(snap, "neo4j", "Neo4j · graph", 8)
    g, old = _present(snap.neo4j), (prev.neo4j if prev and prev.neo4j else None)
    before = {t.id: t.followers for t in old.top} if old else {}

    def build(n: int, w: int) -> list[Text]:
        head = _line(
            (f"{g.nodes} nodes", "bold"),
            (delta(g.nodes, old.nodes if old else None), NEW),
            f" · {g.follows} FOLLOWS",
            (delta(g.follows, old.follows if old else None), NEW),
        )
        if not g.top:
            return [head, _line(("no FOLLOWS edges yet", DIM))][:n]
        rows = [
            (
                t.name or (t.id or "?")[:8],
                Text(f"{t.followers}{arrow(t.followers, before.get(t.id))} followers", style=DIM),
            )
            for t in g.top[: n - 1]
        ]
        return [head, *_table(rows, ("left", "right"), w)]

    return PanelSpec("neo4j", "Neo4j · graph", 8, 1 + max(1, len(g.top)), build, subtitle="most followed")


def _timeseries(snap: Snapshot, prev: Snapshot | None) -> PanelSpec:
    if _is_down(snap, "timeseries"):
        return _down_spec(snap, "timeseries", "Time-series · events/min", 7)
    ts, old = _present(snap.timeseries), (prev.timeseries if prev and prev.timeseries else None)
    types = sorted(ts.per_type.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    window = len(ts.minutes) or 15

    def build(n: int, w: int) -> list[Text]:
        head = _line(
            (f"{approx(ts.events_estimated)}{ts.events} events", "bold"),
            (delta(ts.events, old.events if old else None), NEW),
            (f" · {sum(map(sum, ts.per_type.values()))} in {window} min", DIM),
        )
        if not types:
            return [head, _line((f"no events in the last {window} min", DIM))][:n]
        rows = [
            (name, Text(sparkline(counts), style="cyan"), str(counts[-1] if counts else 0))
            for name, counts in types[: n - 1]
        ]
        return [head, *_table(rows, ("left", "left", "right"), w)]

    return PanelSpec(
        "timeseries",
        "Time-series · events/min",
        7,
        1 + max(1, len(types)),
        build,
        subtitle=f"per minute, last {window}; now",
    )


def _redis(snap: Snapshot, prev: Snapshot | None) -> PanelSpec:
    if _is_down(snap, "redis"):
        return _down_spec(snap, "redis", "Redis · cache", 8)
    r, old = _present(snap.redis), (prev.redis if prev and prev.redis else None)
    cached_before = {p.id for p in old.sample if p.ttl is not None} if old else None

    def build(n: int, w: int) -> list[Text]:
        lines = [
            _line(
                (f"{'' if r.profiles_exact else '≥'}{r.profiles} profiles", "bold"),
                (delta(r.profiles, old.profiles if old else None), NEW),
                f" · {r.keys} keys",
            )
        ]
        total = r.hits + r.misses
        if n >= 2:
            lines.append(
                _line(
                    f"hit/miss {r.hits}/{r.misses}",
                    (f" ({100 * r.hits / total:.0f}% hits)" if total else "", DIM),
                    (delta(r.hits, old.hits if old else None).replace("(", "(hits "), DIM),
                )
            )
        rows = []
        for p in r.sample[: n - 2]:
            is_new = cached_before is not None and p.ttl is not None and p.id not in cached_before
            rows.append(
                (_mark(is_new), p.name or p.id[:8], Text(ttl_text(p.ttl), style=WARN if p.ttl is None else DIM))
            )
        return lines + _table(rows, ("left", "left", "right"), w, flexible=(1,))

    return PanelSpec(
        "redis",
        "Redis · cache",
        8,
        2 + len(r.sample),
        build,
        subtitle="latest users' profiles" if r.sample_source == "latest users" else "profiles",
    )


def _short_topic(topic: str) -> str:
    for prefix in ("public.", "social."):
        if topic.startswith(prefix):
            return topic[len(prefix) :]
    return topic.removesuffix(".posts") if topic.startswith(("dualwrite", "outbox")) else topic


@dataclass(frozen=True)
class PartitionRow:
    """One line of the Kafka panel's partition table: one partition, or a run of a topic's partitions that share
    leader, ISR and owner (``first``..``last``; high, committed and lag summed over the run)."""

    topic: str  # without the prefix
    first: int
    last: int
    leader: int
    isr: int  # how many replicas are in sync
    replicas: int
    high: int
    owner: str | None  # "#2": the instance of the focus projector that owns it; None: not consumed by it / no owner
    committed: int | None
    lag: int | None

    @property
    def label(self) -> str:
        short = {"dualwrite": "dual"}.get(_short_topic(self.topic), _short_topic(self.topic))
        return f"{short} {self.first}" if self.first == self.last else f"{short} {self.first}-{self.last}"

    @property
    def in_sync(self) -> str:
        """The ISR size; "in sync/replicas" when some replica is behind."""
        return str(self.isr) if self.isr >= self.replicas else f"{self.isr}/{self.replicas}"


MIXED = -2  # a merged row whose partitions have different leaders


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


def focus_group(k: KafkaData) -> GroupLag | None:
    """The projector whose owners, committed offsets and lag the partition table shows: the one with the most
    instances (the one being scaled), among those the one that lags most (a stopped projector's backlog shows in
    the table, not the lag 0 of another group), else the first."""
    if not k.groups:
        return None
    return max(k.groups, key=lambda g: (g.instances, g.lag))  # max keeps the first of equals


def partition_rows(k: KafkaData, prefix: str, level: int = 0) -> list[PartitionRow]:
    """The partition table (pure): per partition, its leader, ISR, high watermark and, for :func:`focus_group`,
    its owner, committed offset and lag; consecutive partitions of a topic that agree on leader, ISR and owner
    are one row. When the panel has no room for those: ``level`` 1 merges them whoever owns them (owner ``*``
    when mixed), level 2 whichever broker leads them too (leader ``*``, the smallest ISR): one row per topic."""
    focus = focus_group(k)
    mine = {(p.topic, p.partition): p for p in (focus.partitions if focus else [])}

    def rank(p):
        short = p.topic.removeprefix(prefix)
        return (MAIN_TOPICS.index(short) if short in MAIN_TOPICS else len(MAIN_TOPICS), short, p.partition)

    rows: list[PartitionRow] = []
    for p in sorted(k.partitions, key=rank):
        g = mine.get((p.topic, p.partition))
        owner = None if g is None or g.owner is None else "#" + g.owner.rpartition("#")[2]
        row = PartitionRow(
            p.topic.removeprefix(prefix),
            p.partition,
            p.partition,
            p.leader,
            len(p.isr),
            len(p.replicas),
            p.high,
            owner,
            None if g is None else g.committed,
            None if g is None else g.lag,
        )
        last = rows[-1] if rows else None
        if (
            last is not None
            and last.topic == row.topic
            and last.last + 1 == row.first
            and (level >= 2 or (last.leader, last.isr, last.replicas) == (row.leader, row.isr, row.replicas))
            and (level >= 1 or last.owner == row.owner)
        ):
            rows[-1] = PartitionRow(
                row.topic,
                last.first,
                row.last,
                row.leader if last.leader == row.leader else MIXED,
                min(last.isr, row.isr),
                max(last.replicas, row.replicas),
                last.high + row.high,
                last.owner if last.owner == row.owner else "*",
                None
                if last.committed is None and row.committed is None
                else (last.committed or 0) + (row.committed or 0),
                None if last.lag is None and row.lag is None else (last.lag or 0) + (row.lag or 0),
            )
        else:
            rows.append(row)
    return rows


def schema_text(s: TopicSchema) -> str:
    """One CDC topic's value schema version and what it changed: ``users v2 +bio`` (pure)."""
    if not s.versions:
        return f"{s.topic} -"
    change = Diff(tuple(s.added), tuple(s.removed), tuple(s.changed)).text()
    return f"{s.topic} v{s.version}" + (f" {change}" if change else "") + (" (reading)" if s.catching_up else "")


def schema_lines(schemas: list[TopicSchema], width: int) -> list[Text]:
    """The schema versions of the CDC topics, ``schema users v2 +bio · follows v1``: one line when it fits (the
    word "schema" only then), else one per topic, cropped."""
    if not schemas:
        return []
    items = [schema_text(s) for s in schemas]
    joined = " · ".join(items)
    if cell_len("schema " + joined) <= width:
        return [_line(("schema ", DIM), joined)]
    if cell_len(joined) <= width:
        return [_line(joined)]
    return [_line(i) for i in items]


def _kafka(snap: Snapshot, prev: Snapshot | None, prefix: str) -> PanelSpec:
    if _is_down(snap, "kafka"):
        return _down_spec(snap, "kafka", "Kafka · offsets & lag", 9)
    k, old = _present(snap.kafka), (prev.kafka if prev and prev.kafka and prev.ok("kafka") else None)
    old_lag = {g.projector: g.lag for g in old.groups} if old else {}
    focus = focus_group(k)
    levels = [partition_rows(k, prefix, level) for level in (0, 1, 2)]
    fine, coarse = levels[0], levels[2]
    in_sync = all(len(p.isr) >= len(p.replicas) for p in k.partitions)  # every replica: the ISR column may go
    caught_up = all(g.lag == 0 and all(p.lag == 0 for p in g.partitions) for g in k.groups)
    scaled = any(g.instances > 1 for g in k.groups)
    group_rows = []
    for g in k.groups:
        before = old_lag.get(g.projector)
        group_rows.append(
            (
                g.projector + (f"×{g.instances}" if g.instances > 1 else ""),
                str(g.committed),
                Text(f"{g.lag}{arrow(g.lag, before) or ' '}", style=lag_style(g.lag, before)),
                Text(lag_age(g.lag_s), style=lag_style(g.lag, before)),
                Text(sparkline([round(v * 100) for v in g.lag_trend]), style=DIM),
            )
        )

    def build(n: int, w: int) -> list[Text]:
        if n < 2:
            total = sum(g.lag for g in k.groups)
            return [_line("lag ", (str(total), lag_style(total, None)), f" · {len(k.partitions)} partitions")]
        lines: list[Text] = []
        # The groups (with their header) matter most, then the schema versions; the partitions get the rest.
        room = n - (len(group_rows) + 1)
        schema = schema_lines(snap.schemas, w)[: max(0, room)]
        room -= len(schema)
        if room == 1:
            lines.append(_line(("high ", DIM), " · ".join(f"{_short_topic(r.topic)} {r.high}" for r in coarse)))
        elif room >= 2:
            rows = next((rs for rs in levels if len(rs) <= room - 1), coarse)
            table: list[tuple] = [("part", "L", "isr", "high", "own", "done", "lag")]
            for r in rows[: room - 1]:
                bad = r.leader == -1 or r.isr < r.replicas
                leader = {-1: "-", MIXED: "*"}.get(r.leader, str(r.leader))
                table.append(
                    (
                        r.label,
                        Text(leader, style=BAD if r.leader == -1 else ""),
                        Text(r.in_sync, style=WARN if bad else ""),
                        str(r.high),
                        r.owner or "",
                        "" if r.committed is None else str(r.committed),
                        Text("" if r.lag is None else str(r.lag), style=lag_style(r.lag or 0, None)),
                    )
                )
            cols = [0, 1, 2, 3, 4, 5, 6]
            natural = sum(max(cell_len(str(t[i])) for t in table) for i in cols) + len(cols) - 1
            if natural > w:  # narrow: the committed offset is high minus lag
                cols.remove(5)
                natural -= max(cell_len(str(t[5])) for t in table) + 1
            if natural > w and in_sync:  # every replica in sync: the subtitle says so
                cols.remove(2)
            lines += _table(
                [tuple(t[i] for i in cols) for t in table],
                tuple(("left", "right", "right", "right", "left", "right", "right")[i] for i in cols),
                w,
                header=True,
            )
        lines += schema
        shown = group_rows[: n - 1 - len(lines)]
        header = ("projector", "committed", "lag ", "age", "last min")
        cols = [0, 1, 2, 3, 4]
        natural = sum(max(cell_len(str(r[i])) for r in (header, *shown)) for i in cols) + len(cols) - 1
        if natural > w:  # narrow: lag as time and its trend matter more than the committed offset
            cols.remove(1)
        lines += _table(
            [tuple(r[i] for i in cols) for r in (header, *shown)],
            tuple(("left", "right", "right", "right", "left")[i] for i in cols),
            w,
            header=True,
        )
        return lines

    return PanelSpec(
        "kafka",
        "Kafka · offsets & lag",
        9,
        2 + len(fine) + len(k.groups) + (1 if snap.schemas else 0),
        build,
        # Scaled (a group with several instances): the partition table is the story, so it keeps its rows.
        minimum=min(2 + len(fine) + len(k.groups), 16) if scaled else min(1 + len(k.groups), 4),
        # "all in sync": every replica and every group (then the table's lag column is all 0 anyway); else the
        # subtitle names the group whose lag and owners the table shows ("isr ok": why the isr column may be gone).
        subtitle=(
            (f"all in sync · own: {focus.projector}" if caught_up else f"isr ok · lag, own: {focus.projector}")
            if in_sync
            else f"lag, own: {focus.projector}"
        )
        if focus
        else None,
    )


def _connect(snap: Snapshot, prev: Snapshot | None) -> PanelSpec:
    old = {w.name: w for w in prev.projectors} if prev else {}
    failing = snap.connect is not None and any(t.trace for t in snap.connect.tasks)

    def build(n: int, w: int) -> list[Text]:
        lines: list[Text] = []
        if _is_down(snap, "connect"):
            svc = snap.service("connect")
            word = down_word(svc)
            lines.append(_line((f"✘ Connect {word} since {clock(svc.down_since if svc else None)}", BAD)))
        else:
            c = _present(snap.connect)
            lines.append(_line(f"{c.connector} ", (c.state, STATE_STYLE.get(c.state, WARN))))
            if n > 1 + len(snap.projectors) or (n > 1 and not snap.projectors):
                line = _line()
                for i, t in enumerate(c.tasks):
                    line.append(" · " if i else "")
                    line.append(f"task {t.id} ")
                    line.append(t.state, STATE_STYLE.get(t.state, WARN))
                if not c.tasks:
                    line.append("no tasks", DIM if c.state == "UNREGISTERED" else WARN)
                lines.append(line)
            trace = next((t.trace for t in c.tasks if t.trace), None)
            if trace and n > 2 + len(snap.projectors):
                lines.append(_line((trace, DIM)))
        rows = []
        for wk in snap.projectors[: max(0, n - len(lines))]:
            before = old.get(wk.name)
            d = delta(wk.processed, before.processed if before else None)
            rows.append(
                (
                    wk.name,
                    Text(wk.state, style=STATE_STYLE.get(wk.state, WARN)),
                    Text(("-" if wk.processed is None else str(wk.processed)) + d, style=NEW if d else ""),
                    Text(str(wk.pid or "-"), style=DIM),
                )
            )
        return lines + _table(rows, ("left", "left", "right", "right"), w)

    return PanelSpec(
        "connect",
        "Connect · projectors",
        6,
        2 + failing + len(snap.projectors),
        build,
        subtitle="state, processed, pid",
    )


def _feed(snap: Snapshot, prev: Snapshot | None) -> PanelSpec:
    seen = {(f.topic, f.partition, f.offset) for f in prev.feed} if prev else None

    def build(n: int, w: int) -> list[Text]:
        if not snap.feed:
            return [_line(("no messages yet" if snap.ok("kafka") else "Kafka is down", DIM))]
        rows = []
        for f in snap.feed[:n]:
            is_new = seen is not None and (f.topic, f.partition, f.offset) not in seen
            what = Text(visible(f"{FEED_OPS.get(f.op, f.op)} {f.detail}".strip()))
            what.append(f" {f.key}", DIM)  # after the summary, so a narrow panel crops the key first
            rows.append(
                (
                    _mark(is_new),
                    Text(age(snap.taken_at - f.ts_ms / 1000) if f.ts_ms else "-", style=DIM),
                    Text(_short_topic(f.topic), style="cyan"),
                    what,
                )
            )
        return _table(rows, ("left", "right", "left", "left"), w, flexible=(3,))

    return PanelSpec("feed", "Event feed", 4, max(1, len(snap.feed)), build, subtitle="newest first")


def _scenario(scenario: dict, width: int, max_lines: int, max_detail: int = 0) -> tuple[Panel, int] | None:
    """The scenario panel: steps ticked off, the current one marked, and its caption; under them, up to
    ``max_detail`` lines of the last step's ``detail`` (a ``trace`` step's waterfall, the statements a step
    ran with --show-commands): ``{"title": str, "lines": [Text, ...]}``, each line cut to the width."""
    steps = [str(s) for s in scenario.get("steps") or []]
    current = scenario.get("current", scenario.get("step", 0))
    current = current if isinstance(current, int) else 0
    finished = bool(scenario.get("done")) or bool(steps and current >= len(steps))
    items = []
    for i, step in enumerate(steps):
        if finished or i < current:
            items.append((f"✔ {step}", OK))
        elif i == current:
            items.append((f"▶ {step}", "bold"))
        else:
            items.append((f"· {step}", DIM))
    caption = scenario.get("caption")
    lines = _pack(items, width - 4, max_lines=max(1, max_lines - (1 if caption else 0)))
    if caption:
        lines.append(_line((str(caption), "italic")))
    if not lines:
        return None
    detail = scenario.get("detail") or {}
    shown = list(detail.get("lines") or []) if max_detail >= 2 else []
    if shown:
        if len(shown) > max_detail:
            more = len(shown) - (max_detail - 1)
            shown = [*shown[: max_detail - 1], _line((f"… {more} more", DIM))]
        for text in shown:
            line = text.copy() if isinstance(text, Text) else _line((str(text), ""))
            line.no_wrap, line.overflow = True, "ellipsis"
            line.truncate(width - 4, overflow="ellipsis")
            lines.append(line)
    title = scenario.get("name") or scenario.get("title") or "scenario"
    offset = scenario.get("offset", 0) if isinstance(scenario.get("offset", 0), int) else 0
    total = scenario.get("total") or len(steps)
    where = (" · done" if finished else f" · step {offset + current + 1}/{total}") if steps else ""
    panel = Panel(
        Group(*lines),
        title=f"[bold]scenario: {escape(str(title))}[/]{where}",
        title_align="left",
        subtitle=f"[dim]{escape(str(detail.get('title') or ''))}[/]" if shown else None,
        subtitle_align="right",
        height=len(lines) + 2,
        border_style="magenta",
        padding=(0, 1),
    )
    return panel, len(lines) + 2


# ---------------------------------------------------------------- header, footer, layout


def _pack(items: list[tuple[str, str]], width: int, sep: str = "  ", max_lines: int | None = None) -> list[Text]:
    """First-fit packing of short items into lines of ``width`` cells (items are never split)."""
    lines: list[list[tuple[str, str]]] = []
    widths: list[int] = []
    for text, style in items:
        w = cell_len(text)
        for i, used in enumerate(widths):
            if used + len(sep) + w <= width:
                lines[i].append((text, style))
                widths[i] = used + len(sep) + w
                break
        else:
            lines.append([(text, style)])
            widths.append(w)
    out = []
    for parts in lines[:max_lines] if max_lines else lines:
        line = _line()
        for i, (text, style) in enumerate(parts):
            if i:
                line.append(sep)
            line.append(text, style)
        out.append(line)
    return out


def _header(snap: Snapshot, width: int, compact: bool) -> list[Text]:
    down = [s for s in snap.services if not s.ok]
    title = _line(
        ("polydemo live", "bold"),
        f" · {snap.runtime} runtime · {clock(snap.taken_at)}",
        (f" · collected in {snap.collect_ms:.0f} ms", DIM),
        "  ",
    )
    if down:
        title.append(f"✘ {len(down)} of {len(snap.services)} services down", BAD)
    else:
        title.append(f"✔ all {len(snap.services)} services healthy", OK)
    items = []
    for s in snap.services:
        disk = f" · disk {s.disk}" if s.disk else ""
        if not s.ok:
            items.append((f"✘ {s.name} {down_word(s)} since {clock(s.down_since)}{disk}", BAD))
        elif s.disk:
            items.append((f"{'✘' if s.disk == 'full' else '⚠'} {s.name}{disk}", BAD if s.disk == "full" else WARN))
        else:
            items.append((f"✔ {s.name}" if compact else f"✔ {s.name} {s.label}", OK if compact else ""))
    lines = _pack(items, width, sep=" " if compact else "  ")
    if not compact:  # colour the mark and the name; the engine label stays plain
        for line in lines:
            line.highlight_words([f"✔ {s.name} " for s in snap.services if s.ok and not s.disk], OK)
    return [title, *lines]


def _columns(width: int) -> int:
    return 3 if width >= 96 else 2 if width >= 60 else 1


LAYOUT = {
    3: [["postgres", "mongo", "neo4j"], ["timeseries", "redis", "connect"], ["kafka", "feed"]],
    2: [["postgres", "neo4j", "redis", "timeseries"], ["kafka", "connect", "mongo", "feed"]],
    1: [["postgres", "kafka", "redis", "neo4j", "timeseries", "connect", "mongo", "feed"]],
}


def _fit(specs: list[PanelSpec], budget: int) -> list[tuple[PanelSpec, int]]:
    """Body lines per panel so the column fits ``budget`` lines: drop panels, then share rows round-robin."""
    kept = list(specs)
    while kept and sum(s.minimum + 2 for s in kept) > budget:
        kept.remove(min(kept, key=lambda s: s.priority))
    alloc = {s.key: min(s.minimum, s.want) for s in kept}
    left = budget - sum(alloc[s.key] + 2 for s in kept)
    by_priority = sorted(kept, key=lambda s: -s.priority)
    while left > 0:
        grew = False
        for s in by_priority:
            if left > 0 and alloc[s.key] < s.want:
                alloc[s.key] += 1
                left -= 1
                grew = True
        if not grew:
            break
    return [(s, alloc[s.key]) for s in kept]


class _Columns:
    """Columns of panels side by side, each column exactly its width (no measuring pass, unlike a Table)."""

    def __init__(self, columns: list[list[Panel]], widths: list[int]):
        self.columns = columns
        self.widths = widths

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rendered = []
        for panels, w in zip(self.columns, self.widths, strict=True):
            lines: list[list[Segment]] = []
            for panel in panels:
                lines.extend(console.render_lines(panel, options.update(width=w, height=panel.height), pad=True))
            rendered.append(lines)
        for i in range(max((len(c) for c in rendered), default=0)):
            for lines, w in zip(rendered, self.widths, strict=True):
                yield from (lines[i] if i < len(lines) else [Segment(" " * w)])
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(sum(self.widths), sum(self.widths))


def _panel(spec: PanelSpec, n: int, width: int) -> Panel:
    body = spec.build(n, width - 4)[:n]  # 2 for the border, 2 for the padding
    return Panel(
        Group(*body),
        title=f"[bold]{spec.title}[/]",
        title_align="left",
        height=n + 2,
        subtitle=f"[dim]{spec.subtitle}[/]" if spec.subtitle else None,
        subtitle_align="right",
        border_style="blue",
        padding=(0, 1),
    )


def _guess_prefix(snap: Snapshot) -> str:
    """The topic prefix, from the topic names (render has no Settings)."""
    for p in snap.kafka.partitions if snap.kafka else []:
        for main in MAIN_TOPICS:
            if p.topic.endswith("." + main):
                return p.topic[: -len(main) - 1]
    return "polydemo"


def render(
    snapshot: Snapshot, prev: Snapshot | None = None, scenario: dict | None = None, width: int = 100, height: int = 30
) -> RenderableType:
    """The whole frame for a ``width`` x ``height`` screen (see the module docstring).

    ``prev`` is an earlier frame to show changes against (new rows ``+``, counts ``(+n)``, lag ``↑``/``↓``);
    ``scenario`` is ``{"name", "steps": [...], "current": index, "caption", "done"}`` (all optional).
    """
    snap = snapshot
    width, height = max(24, width), max(6, height)
    detailed = bool(scenario and (scenario.get("detail") or {}).get("lines"))  # a step's detail wants the room
    header = _header(snap, width, compact=False)
    if len(header) > (5 if height >= 28 else 4) or height < 24 or detailed:
        header = _header(snap, width, compact=True)
    if height < 14:
        header = header[:1]
    footer = _pack(staleness(snap), width, sep=" · ", max_lines=2 if height >= 24 else 1) if height >= 10 else []
    budget = height - len(header) - len(footer)
    scen = None
    if scenario and budget >= 12:
        # A step's detail takes what the panels can spare: they keep 12 lines (10 below 24 rows).
        spare = budget - (5 if height >= 24 else 4) - (12 if height >= 24 else 10)
        scen = _scenario(scenario, width, max_lines=3 if height >= 24 else 2, max_detail=min(10, spare))
        if scen:
            budget -= scen[1]

    specs = {
        s.key: s
        for s in (
            _postgres(snap, prev),
            _mongo(snap, prev),
            _neo4j(snap, prev),
            _timeseries(snap, prev),
            _redis(snap, prev),
            _kafka(snap, prev, _guess_prefix(snap) + "."),
            _connect(snap, prev),
            _feed(snap, prev),
        )
    }
    layout = LAYOUT[_columns(width)]
    widths = [width // len(layout) + (1 if i < width % len(layout) else 0) for i in range(len(layout))]
    columns = [
        [_panel(spec, n, w) for spec, n in _fit([specs[k] for k in keys], budget)]
        for keys, w in zip(layout, widths, strict=True)
    ]

    parts: list[RenderableType] = [*header]
    if scen:
        parts.append(scen[0])
    parts.append(_Columns(columns, widths))
    parts.extend(footer)
    return Constrain(Group(*parts), width)
