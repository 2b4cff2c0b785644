"""Pure renderers for the stack commands: data in, Rich renderables out (tested without servers)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from polydemo import diskspace
from polydemo.console import safe, safe_text
from polydemo.runtime.base import ServiceStatus

STATE_STYLE = {"healthy": "ok", "unhealthy": "bad", "stopped": "dim", "paused": "warn"}


def human_bytes(n: int | None) -> str:
    return "-" if n is None else diskspace.human(n)


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def status_table(statuses: list[ServiceStatus], runtime: str) -> Table:
    table = Table(title=f"polydemo stack ({runtime} runtime)", title_style="bold", expand=False)
    for col, kw in (
        ("service", {"style": "svc", "no_wrap": True}),
        ("engine", {"ratio": 1}),
        ("port", {"justify": "right"}),
        ("pid", {"justify": "right"}),
        ("health", {}),
        ("uptime", {"justify": "right"}),
        ("RSS", {"justify": "right"}),
    ):
        table.add_column(col, **kw)
    total = 0
    for st in statuses:
        total += st.rss_bytes or 0
        table.add_row(
            st.service,
            st.version or st.engine,
            str(st.port),
            str(st.pid or "-"),
            Text(st.state, style=STATE_STYLE.get(st.state, "")),
            human_duration(st.uptime_s),
            human_bytes(st.rss_bytes),
        )
    if any(st.rss_bytes for st in statuses):
        table.add_section()
        table.add_row("total", "", "", "", "", "", human_bytes(total))
    return table


def disk_lines(
    usages: list[diskspace.DiskUsage], statuses: list[ServiceStatus], why_stopped: dict[str, str] | None = None
) -> list[str]:
    """``status``'s lines for the data directories that are full or low (markup, the paths escaped): each names
    the directory, its free space and the one thing to do (free space; then `polydemo up` if the service stopped);
    then one per server that stopped for want of space (``why_stopped``: service -> its log's line saying so)."""
    running = {s.service: s.pid is not None for s in statuses}
    by_service = {u.service: u for u in usages}
    out = []
    for name, why in (why_stopped or {}).items():
        out.append(f"[bad]✘[/bad] {safe(diskspace.stopped_line(name, why, by_service.get(name)))}")
    for u in usages:
        if u.state == "ok":
            continue
        mark = "[bad]✘[/bad]" if u.full else "[warn]⚠[/warn]"
        out.append(f"{mark} {safe(diskspace.line(u, running=running.get(u.service, True)))}")
    return out


def brokers_table(brokers: list[dict], leader: int | None) -> Table:
    """Cluster mode: the Kafka brokers and which one leads the KRaft controller quorum."""
    title = f"kafka cluster: {len(brokers)} brokers, controller leader {leader if leader is not None else 'unknown'}"
    table = Table(title=title, title_style="bold", expand=False)
    for col in ("broker", "service", "port", "pid", "state", "controller"):
        table.add_column(col)
    for b in brokers:
        table.add_row(
            str(b["id"]),
            b["service"],
            str(b["port"]),
            str(b["pid"] or "-"),
            Text(b["state"], style="ok" if b["state"] == "up" else "bad"),
            "leader" if b["controller_leader"] else "",
        )
    return table


def endpoints_table(statuses: list[ServiceStatus], urls: dict[str, str]) -> Table:
    table = Table(title="endpoints", title_style="bold")
    table.add_column("service", style="svc")
    table.add_column("engine")
    table.add_column("endpoint")
    table.add_column("health")
    for st in statuses:
        table.add_row(
            st.service,
            st.engine,
            urls.get(st.service, f"127.0.0.1:{st.port}"),
            Text(st.state, style=STATE_STYLE.get(st.state, "")),
        )
    return table


VERDICT_STYLE = {
    "source of truth": "ok",
    "in sync": "ok",
    "missing": "warn",
    "stale": "warn",
    "down": "bad",
    "not answering": "bad",
}


def reads_table(results) -> Table:
    table = Table(title="one user, three stores", title_style="bold")
    for col in ("store", "found", "name", "followers", "verdict", "projector lag", "read"):
        table.add_column(col, justify="right" if col in ("followers", "projector lag", "read") else "left")
    for r in results:
        table.add_row(
            r.store,
            "yes" if r.found else "no",
            safe_text(r.name or "-"),
            "-" if r.followers is None else str(r.followers),
            Text(r.verdict, style=VERDICT_STYLE.get(r.verdict, "")),
            "-" if r.lag_messages is None else f"{r.lag_messages} msg",
            f"{r.read_ms:.1f} ms",
        )
    failed = [f"{r.store}: {r.detail}" for r in results if r.detail]
    if failed:
        table.caption = Text("\n").join(safe_text(line) for line in failed)
        table.caption_justify = "left"
    return table


def slot_line(slot) -> Text:
    """One line on the replication slot for ``status``: cap, retained WAL, unsent age, or what to do."""
    if not slot.exists:
        return Text(f"replication slot {slot.name}: not created yet (the connector makes it)", style="warn")
    cap = f" of the {human_bytes(slot.cap_bytes)} cap" if slot.cap_bytes else " (no cap)"
    if slot.invalidated:
        return Text(
            f"replication slot {slot.name}: INVALIDATED, it held more WAL than the cap allows; CDC has "
            "stopped and the changes it held are gone. Run `polydemo reset` to recreate it.",
            style="bad",
        )
    age = slot.oldest_unsent_age_s
    state = "streaming" if slot.active else "not read (Connect stopped?)"
    text = Text(f"replication slot {slot.name}: {state}, {human_bytes(slot.retained_bytes)} of WAL retained{cap}, ")
    text.append(
        "nothing unsent" if age is None else f"oldest unsent change {human_duration(age)} old",
        style="ok" if age is None else ("warn" if age < 60 else "bad"),
    )
    if slot.wal_status == "unreserved":
        text.append(" · over the cap: invalidated at the next checkpoint", style="bad")
    return text


# ---------------------------------------------------------------- polydemo trace


def _bar(start: float, end: float, total: float, width: int) -> str:
    """Cells [start, end] of ``total`` ms on ``width`` cells: spaces up to the start, then the span (≥1 cell)."""
    if total <= 0:
        return "█"
    a = min(width - 1, int(start / total * width))
    b = max(a + 1, min(width, round(end / total * width)))
    return " " * a + "█" * (b - a)


def trace_view(trace, bar_width: int = 32) -> Table:
    """The waterfall of a :class:`polydemo.pipeline.trace.Trace`: one row per hop, ms from the source write."""
    title = f"trace {trace.entity} {trace.subject}"
    if trace.op:
        title += f" · {trace.op}"
    table = Table(title=Text(title, style="bold"), title_justify="left", expand=False, box=None, padding=(0, 1))
    table.add_column("hop", no_wrap=True)
    table.add_column("ms", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True, min_width=bar_width)
    table.add_column("where", style="dim", overflow="fold")
    if not trace.hops:
        table.add_row(Text("no change of this key recorded by any projector", style="warn"), "", "", "")
        return table
    known = [trace.ms(h) for h in trace.hops if trace.ms(h) is not None]
    total = max([0.0, *known])
    for i, hop in enumerate(trace.hops):
        ms = trace.ms(hop)
        if ms is None:
            table.add_row(
                hop.name, Text("?", style="warn"), Text("unknown", style="warn"), safe_text(hop.unknown or "")
            )
            continue
        before = trace.hops[hop.after if hop.after is not None else max(0, i - 1)]
        start = trace.ms(before) if i else 0.0
        start = ms if start is None else start
        style = "bad" if ms < start else "ok"  # out of order: shown, never hidden
        table.add_row(
            hop.name,
            f"{ms:+.1f}" if ms else "0.0",
            Text(_bar(max(0.0, min(start, ms)), max(ms, 0.0), total, bar_width), style=style),
            safe_text(hop.detail),
        )
    return table
