// polydemo's live view (docs/web.md): plain ES2020, no framework, no build step, nothing from a CDN.
// It draws GET /api/snapshot and the /api/live messages (snapshot, flow, caption, edges, audience) on one SVG with
// fixed positions, and calls POST /graphql for the controls. While an audience session is open, its panel (the
// join QR code, address and code, the counters, the newest names) replaces the Kafka partitions' box.
// Every piece of user text (names, emails, titles, feed details, errors) goes in through textContent or
// createTextNode, never innerHTML: a name like <img src=x onerror=alert(1)> shows as those characters.
"use strict";

(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (sel) => document.querySelector(sel);

  // ------------------------------------------------------------------ the drawing: fixed positions
  // viewBox 0 0 1000 560. kind: what the node shows (store: a count; projector: state + lag; ...).
  const NODES = {
    ui: { x: 15, y: 40, w: 120, h: 92, title: "UI", engine: "this browser", kind: "ui" },
    gateway: { x: 15, y: 228, w: 120, h: 104, title: "gateway", engine: "Starlette+GraphQL", kind: "gateway" },
    postgres: { x: 170, y: 62, w: 140, h: 156, title: "Postgres", engine: "source of truth", kind: "store", unit: "users" },
    mongo: { x: 170, y: 342, w: 140, h: 156, title: "Mongo", engine: "posts (wire API)", kind: "store", unit: "posts" },
    connect: { x: 345, y: 88, w: 112, h: 104, title: "Debezium", engine: "Kafka Connect", kind: "connect" },
    relay: { x: 345, y: 368, w: 112, h: 104, title: "relay", engine: "change stream", kind: "relay" },
    kafka: { x: 495, y: 206, w: 118, h: 148, title: "Kafka", engine: "the log", kind: "kafka", unit: "records" },
    graph: { x: 650, y: 14, w: 128, h: 158, title: "graph", engine: "projector", kind: "projector" },
    cache: { x: 650, y: 201, w: 128, h: 158, title: "cache", engine: "projector", kind: "projector" },
    analytics: { x: 650, y: 388, w: 128, h: 158, title: "analytics", engine: "projector", kind: "projector" },
    neo4j: { x: 826, y: 28, w: 164, h: 130, title: "Neo4j", engine: "graph read model", kind: "store", unit: "nodes" },
    redis: { x: 826, y: 215, w: 164, h: 130, title: "Redis", engine: "profile cache", kind: "store", unit: "profiles" },
    timeseries: { x: 826, y: 402, w: 164, h: 130, title: "time-series", engine: "events per minute", kind: "store", unit: "events" },
  };
  const EDGES = [
    ["ui", "gateway"],
    ["gateway", "postgres"],
    ["gateway", "mongo"],
    ["postgres", "connect"],
    ["connect", "kafka"],
    ["mongo", "relay"],
    ["relay", "kafka"],
    ["kafka", "graph"],
    ["graph", "neo4j"],
    ["kafka", "cache"],
    ["cache", "redis"],
    ["kafka", "analytics"],
    ["analytics", "timeseries"],
  ];
  const PROJECTORS = ["graph", "cache", "analytics"];
  const STORE_OF = { graph: "neo4j", cache: "redis", analytics: "timeseries" };
  const SEGMENT_MS = 380; // how long a dot takes along one drawn edge
  const LISTED = 12; // flows listed in the waterfall
  const MAX_DOTS = 24; // dots at once; beyond this (a load test) a hop is counted and listed, not animated: the
  // big screen shares the presenter's laptop with the stack, and each dot costs a frame loop of its own

  const state = {
    snapshot: null,
    live: false,
    flows: new Map(), // id -> {flow, drawn: Set<hop index>, ends: {hop index: epoch ms its dot arrives}}
    order: [], // flow ids, newest first
    edgeCounts: {},
    dots: 0,
    token: null,
    user: null,
    audience: null, // the last "audience" message
    hidden: new Set(), // post ids the presenter hid: their titles are not shown
  };
  window.polydemo = { drawn: {}, handled: {}, animated: {}, state, version: 1 };

  // ------------------------------------------------------------------ small helpers
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  function fmt(n, estimated) {
    if (!isNum(n)) return "—";
    return (estimated ? "≈" : "") + Math.round(n).toLocaleString("en-US");
  }
  function fmtMs(ms) {
    if (!isNum(ms)) return "?";
    return ms >= 10000 ? (ms / 1000).toFixed(1) + " s" : Math.round(ms) + " ms";
  }
  function trunc(s, n) {
    s = s == null ? "" : String(s);
    return s.length > n ? s.slice(0, Math.max(1, n - 1)) + "…" : s;
  }
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }
  function setAttr(node, k, v) {
    v = String(v);
    if (node.getAttribute(k) !== v) node.setAttribute(k, v);
  }
  function clock(ms) {
    const d = new Date(ms);
    return isNaN(d) ? "" : d.toTimeString().slice(0, 8);
  }

  // ------------------------------------------------------------------ build the SVG once
  const parts = {}; // node name -> {g, count, sub, err, state, lag, spark, title}
  const edgeParts = {}; // "from-to" -> {g, path, label}

  function center(n) {
    const b = NODES[n];
    return [b.x + b.w / 2, b.y + b.h / 2];
  }
  // Where the line from the centre of box b towards (dx, dy) leaves it.
  function boundary(b, dx, dy) {
    const hw = b.w / 2 + 4, hh = b.h / 2 + 4;
    const t = Math.min(dx ? hw / Math.abs(dx) : Infinity, dy ? hh / Math.abs(dy) : Infinity);
    return [b.x + b.w / 2 + dx * t, b.y + b.h / 2 + dy * t];
  }

  function buildGraph() {
    const edgesG = $("#edges"), nodesG = $("#nodes");
    for (const [a, b] of EDGES) {
      const [ax, ay] = center(a), [bx, by] = center(b);
      const [x1, y1] = boundary(NODES[a], bx - ax, by - ay);
      const [x2, y2] = boundary(NODES[b], ax - bx, ay - by);
      const key = `${a}-${b}`;
      const g = svg("g", { class: "edge", "data-edge": key, "data-ok": "true" });
      const path = svg("path", { d: `M${x1.toFixed(1)},${y1.toFixed(1)} L${x2.toFixed(1)},${y2.toFixed(1)}` });
      const mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
      const vertical = Math.abs(x2 - x1) < Math.abs(y2 - y1);
      const label = svg("text", {
        class: "ecount",
        x: vertical ? mx + 8 : mx,
        y: vertical ? my + 6 : my - 9,
        "text-anchor": vertical ? "start" : "middle",
        "data-count": "",
      });
      g.append(svg("title", {}, `${a} → ${b}: changes over the last 30 s`), path, label);
      edgesG.append(g);
      edgeParts[key] = { g, path, label };
    }
    for (const [name, b] of Object.entries(NODES)) {
      const g = svg("g", { class: `node ${b.kind}`, "data-node": name, "data-ok": "unknown", transform: `translate(${b.x},${b.y})` });
      const tip = svg("title", {}, b.title);
      g.append(tip, svg("rect", { class: "frame", width: b.w, height: b.h, rx: 10 }));
      g.append(svg("text", { class: "title", x: 10, y: 25 }, b.title));
      const engine = svg("text", { class: "engine", x: 10, y: 44 }, b.engine);
      g.append(engine);
      const p = { g, tip, engine };
      if (b.kind === "store" || b.kind === "kafka") {
        p.count = svg("text", { class: "count", x: 10, y: 84, "data-count": "" }, "—");
        p.unit = svg("text", { class: "unit", x: 10, y: 104 }, b.unit);
        p.sub = svg("text", { class: "sub", x: 10, y: 124 }, "");
      } else if (b.kind === "projector") {
        p.state = svg("text", { class: "state", x: 10, y: 68 }, "…");
        p.count = svg("text", { class: "lag", x: 10, y: 100, "data-count": "" }, "—");
        p.unit = svg("text", { class: "unit", x: 10, y: 118 }, "lag");
        p.sparkBase = svg("line", { class: "sparkbase", x1: 10, x2: b.w - 10, y1: b.h - 8, y2: b.h - 8 });
        p.spark = svg("polyline", { class: "spark", points: "" });
        g.append(p.sparkBase, p.spark);
      } else {
        const short = b.h < 100; // the UI box: its lines closer together
        p.state = svg("text", { class: "state", x: 10, y: short ? 64 : 72 }, short ? "" : "…");
        p.sub = svg("text", { class: "sub", x: 10, y: short ? 82 : 94 }, "");
      }
      p.err = svg("text", { class: "err", x: 10, y: b.h - 10 }, "");
      for (const k of ["count", "unit", "sub", "state"]) if (p[k]) g.append(p[k]);
      g.append(p.err);
      nodesG.append(g);
      parts[name] = p;
    }
    $("#arch").append(
      svg("text", { class: "legend", x: 12, y: 552 },
        "numbers on arrows: changes in the last 30 s · dots: a change travelling, ms since its commit"),
    );
  }

  // ------------------------------------------------------------------ the snapshot
  function svc(snap, name) {
    return (snap.services || []).find((s) => s && s.name === name) || null;
  }
  function workerRows(snap, name) {
    return (snap.projectors || []).filter((r) => r && (r.name === name || String(r.name).startsWith(name + "#")));
  }
  function group(snap, projector) {
    return ((snap.kafka && snap.kafka.groups) || []).find((g) => g && g.projector === projector) || null;
  }
  function setNode(name, ok, { count, estimated, sub, error, st, label } = {}) {
    const p = parts[name];
    setAttr(p.g, "data-ok", ok === null ? "unknown" : ok ? "true" : "false");
    if (p.count && count !== undefined) setText(p.count, fmt(count, estimated));
    if (p.sub && sub !== undefined) setText(p.sub, sub);
    if (p.state && st !== undefined) setText(p.state, st);
    const b = NODES[name];
    setErr(p.err, error || "", Math.floor((b.w - 14) / 8.6), b.h);
    setText(p.tip, [b.title, label, error].filter(Boolean).join("\n"));
  }

  // A node's error: up to two lines of text (tspans) at the bottom of its box; the whole of it in the tooltip.
  function setErr(node, error, perLine, h) {
    if (node.dataset.text === error) return;
    node.dataset.text = error;
    const lines = [];
    let line = "";
    for (const word of error.split(/\s+/).filter(Boolean)) {
      if (line && (line + " " + word).length > perLine) {
        lines.push(line);
        line = word;
      } else line = line ? line + " " + word : word;
    }
    if (line) lines.push(line);
    const shown = lines.slice(0, 2).map((l) => trunc(l, perLine));
    if (lines.length > 2) shown[1] = trunc(shown[1] + " …", perLine);
    node.replaceChildren(...shown.map((l, i) => svg("tspan", { x: 10, y: h - 8 - (shown.length - 1 - i) * 16 }, l)));
  }

  function renderSnapshot(snap) {
    state.snapshot = snap;
    window.polydemo.snapshot = snap;
    const health = {};
    for (const name of ["postgres", "mongo", "neo4j", "redis", "timeseries", "kafka", "connect"]) {
      const s = svc(snap, name);
      const word = s && !s.ok && s.state === "not answering" ? "not answering · " : "";
      health[name] = s ? { ok: !!s.ok, error: s.ok ? null : word + (s.error || "down"), label: s.label || "" } : { ok: null, error: null, label: "" };
    }
    const pg = snap.postgres, mg = snap.mongo, n4 = snap.neo4j, rd = snap.redis, ts = snap.timeseries;
    setNode("postgres", health.postgres.ok, {
      count: pg ? pg.users : null, estimated: pg && pg.users_estimated,
      sub: pg ? `${fmt(pg.follows, pg.follows_estimated)} follows` : "", error: health.postgres.error, label: health.postgres.label,
    });
    setNode("mongo", health.mongo.ok, {
      count: mg ? mg.posts : null, sub: mg && mg.posts === null ? "counting…" : "", error: health.mongo.error, label: health.mongo.label,
    });
    setNode("neo4j", health.neo4j.ok, {
      count: n4 ? n4.nodes : null, sub: n4 ? `${fmt(n4.follows)} follows` : "", error: health.neo4j.error, label: health.neo4j.label,
    });
    setNode("redis", health.redis.ok, {
      count: rd ? rd.profiles : null, sub: rd ? `hits ${fmt(rd.hits)} · miss ${fmt(rd.misses)}` : "", error: health.redis.error, label: health.redis.label,
    });
    setNode("timeseries", health.timeseries.ok, {
      count: ts ? ts.events : null, estimated: ts && ts.events_estimated, sub: ts && ts.minutes ? `${ts.minutes.length} min buckets` : "",
      error: health.timeseries.error, label: health.timeseries.label,
    });
    const kf = snap.kafka;
    const highs = kf && Array.isArray(kf.partitions) ? kf.partitions.reduce((a, p) => a + (isNum(p && p.high) ? p.high : 0), 0) : null;
    setNode("kafka", health.kafka.ok, {
      count: highs, sub: kf ? `${(kf.partitions || []).length} partitions` : "",
      error: health.kafka.error, label: health.kafka.label,
    });


    // Debezium: the service's health and the connector's state.
    const cn = snap.connect;
    const cstate = cn ? String(cn.state || "?") : health.connect.ok === false ? "down" : "?";
    const tasks = cn && Array.isArray(cn.tasks) ? cn.tasks : [];
    const running = tasks.filter((t) => t && t.state === "RUNNING").length;
    const trace = tasks.map((t) => t && t.trace).find(Boolean);
    const connectOk = health.connect.ok === false ? false : cn ? cstate === "RUNNING" && (tasks.length === 0 || running === tasks.length) : health.connect.ok;
    setNode("connect", connectOk, { st: cstate, sub: cn ? `tasks ${running}/${tasks.length}` : "", error: health.connect.error || (trace ? trace.split("\n")[0] : null), label: health.connect.label });
    setAttr(parts.connect.g, "data-state", cstate);

    // The relay and the projectors: their process rows; a projector's lag from its consumer group.
    const relay = workerRows(snap, "relay");
    const relayUp = relay.some((r) => r.running);
    setNode("relay", relay.length ? relayUp : null, { st: relay.length ? relay[0].state : "?", sub: relay.length && isNum(relay[0].processed) ? `${fmt(relay[0].processed)} sent` : "", error: relay.length ? relay[0].last_error : null });
    setAttr(parts.relay.g, "data-state", relay.length ? relay[0].state : "unknown");
    const projOk = {};
    for (const name of PROJECTORS) {
      const rows = workerRows(snap, name);
      const up = rows.filter((r) => r.running);
      const st = up.length ? up[0].state : rows.length ? rows[0].state || "stopped" : "unknown";
      const ok = rows.length ? up.length > 0 && !["stopped", "paused", "failed", "unknown"].includes(st) : null;
      projOk[name] = ok;
      const g = group(snap, name);
      const lag = g && isNum(g.lag) ? g.lag : null;
      const p = parts[name];
      setNode(name, ok, { count: lag, st: up.length > 1 ? `${st} ×${up.length}` : st, error: rows.map((r) => r.last_error).find(Boolean) || null });
      setAttr(p.g, "data-state", st);
      setAttr(p.g, "data-lag", lag === null ? "" : lag);
      setAttr(p.g, "data-lagging", lag > 0 ? "true" : "false");
      setText(p.unit, g && isNum(g.lag_s) && g.lag_s > 0 ? `lag · ${g.lag_s.toFixed(1)} s behind` : "lag");
      const trend = g && Array.isArray(g.lag_trend) ? g.lag_trend.filter(isNum) : [];
      const b = NODES[name];
      if (trend.length > 1) {
        const max = Math.max(1, ...trend), w = b.w - 20, top = b.h - 34, hgt = 24;
        const pts = trend.map((v, i) => `${(10 + (i * w) / (trend.length - 1)).toFixed(1)},${(top + hgt - (v / max) * hgt).toFixed(1)}`);
        setAttr(p.spark, "points", pts.join(" "));
      } else setAttr(p.spark, "points", "");
    }
    // Edges: a dead store, a stopped projector or a paused connector shows on its edge too.
    const edgeState = {
      "ui-gateway": state.live,
      "gateway-postgres": health.postgres.ok !== false,
      "gateway-mongo": health.mongo.ok !== false,
      "postgres-connect": connectOk === false ? (cstate === "PAUSED" ? "paused" : false) : health.postgres.ok !== false,
      "connect-kafka": connectOk === false ? (cstate === "PAUSED" ? "paused" : false) : health.kafka.ok !== false,
      "mongo-relay": relay.length ? relayUp && health.mongo.ok !== false : health.mongo.ok !== false,
      "relay-kafka": relay.length ? relayUp && health.kafka.ok !== false : health.kafka.ok !== false,
    };
    for (const name of PROJECTORS) {
      edgeState[`kafka-${name}`] = projOk[name] !== false && health.kafka.ok !== false;
      edgeState[`${name}-${STORE_OF[name]}`] = projOk[name] !== false && health[STORE_OF[name]].ok !== false;
    }
    for (const [key, ok] of Object.entries(edgeState)) setAttr(edgeParts[key].g, "data-ok", ok === "paused" ? "paused" : ok ? "true" : "false");

    renderPartitions(snap);
    renderFeed(snap);
    renderAudienceLag();
  }

  function shortTopic(t) {
    const s = String(t || "");
    const bits = s.split(".");
    return bits.length > 2 ? bits.slice(-2).join(".") : s;
  }

  function renderPartitions(snap) {
    const table = $("#partitions");
    const kf = snap.kafka;
    const groups = kf && Array.isArray(kf.groups) ? kf.groups.filter(Boolean) : [];
    const head = el("tr", {}, el("th", {}, "topic[p]"), el("th", {}, "high"));
    for (const g of groups) head.append(el("th", { title: `${g.group}: committed, lag, owner` }, `${g.projector}`));
    const rows = [];
    let parts = kf && Array.isArray(kf.partitions) ? kf.partitions.filter(Boolean) : [];
    // The lagging partitions first (what a talk points at), then by topic and partition.
    const lagOf = (p) => Math.max(0, ...groups.map((g) => {
      const pl = (g.partitions || []).find((x) => x && x.topic === p.topic && x.partition === p.partition);
      return pl && isNum(pl.lag) ? pl.lag : 0;
    }));
    const consumed = (p) => groups.filter((g) => (g.partitions || []).some((x) => x && x.topic === p.topic && x.partition === p.partition)).length;
    const lags = new Map(parts.map((p) => [p, lagOf(p)]));
    const readers = new Map(parts.map((p) => [p, consumed(p)]));
    const all = parts.length;
    // Partitions nobody reads and nothing was written to (the dual-write and outbox topics, unused) are not listed.
    parts = parts.filter((p) => readers.get(p) > 0 || p.high > 0);
    parts.sort((a, b) => lags.get(b) - lags.get(a) || readers.get(b) - readers.get(a)
      || String(a.topic).localeCompare(String(b.topic)) || a.partition - b.partition);
    const lagging = parts.filter((p) => lags.get(p) > 0).length;
    setText($("#part-summary"), kf ? `${all} partitions · ${lagging} lagging${lagging ? " (listed first)" : ""}${all > parts.length ? ` · ${all - parts.length} empty not listed` : ""}` : "");
    for (const p of parts) {
      const tr = el("tr", { "data-partition": `${p.topic}:${p.partition}` }, el("td", {}, `${shortTopic(p.topic)}[${p.partition}]`), el("td", {}, fmt(p.high)));
      for (const g of groups) {
        const pl = (g.partitions || []).find((x) => x && x.topic === p.topic && x.partition === p.partition);
        if (!pl) {
          tr.append(el("td", { class: "muted" }, "·"));
          continue;
        }
        const owner = pl.owner ? String(pl.owner).replace(g.projector, "") || "#1" : "—";
        const td = el("td", { class: pl.lag > 0 ? "lagging" : "", title: `committed ${pl.committed ?? "none"}, lag ${pl.lag}, owner ${pl.owner || "none"}` },
          `${fmt(pl.committed)} `, pl.lag > 0 ? `+${fmt(pl.lag)} ` : "✓ ", el("span", { class: "owner" }, owner));
        tr.append(td);
      }
      rows.push(tr);
    }
    if (!rows.length) rows.push(el("tr", {}, el("td", { class: "muted" }, kf ? "no partitions yet" : "Kafka not answering")));
    table.tHead.replaceChildren(head);
    table.tBodies[0].replaceChildren(...rows);
  }

  function renderFeed(snap) {
    const items = Array.isArray(snap.feed) ? snap.feed.filter(Boolean).slice() : [];
    items.sort((a, b) => (b.ts_ms || 0) - (a.ts_ms || 0) || (b.offset || 0) - (a.offset || 0));
    const lis = items.slice(0, 40).map((f) => {
      const bad = /dead|tombstone|delete/.test(String(f.op || ""));
      return el("li", {},
        el("span", { class: "t" }, clock(f.ts_ms)), " ",
        el("span", { class: bad ? "op bad" : "op" }, String(f.op || "")), " ",
        el("span", { class: "topic" }, `${f.topic}[${f.partition}]@${f.offset}`), " ",
        String(f.key || ""), " ",
        isHidden(f.key) ? el("b", { class: "hidden-title" }, "hidden") : el("b", {}, String(f.detail || "")));
    });
    if (!lis.length) lis.push(el("li", { class: "muted" }, "no events yet"));
    $("#feed").replaceChildren(...lis);
  }

  // ------------------------------------------------------------------ edges (counts over 30 s)
  const ADJ = {};
  for (const [a, b] of EDGES) (ADJ[a] = ADJ[a] || []).push(b);
  function route(from, to) {
    // The drawn edges a hop travels along (postgres → kafka goes through Debezium): breadth first.
    if (from === to) return [];
    const prev = { [from]: null }, queue = [from];
    while (queue.length) {
      const n = queue.shift();
      for (const m of ADJ[n] || []) {
        if (m in prev) continue;
        prev[m] = n;
        if (m === to) {
          const path = [];
          for (let c = to; prev[c] !== null; c = prev[c]) path.unshift(`${prev[c]}-${c}`);
          return path;
        }
        queue.push(m);
      }
    }
    return null;
  }
  function renderEdges(counts) {
    const total = {};
    for (const [key, n] of Object.entries(counts || {})) {
      if (!isNum(n)) continue;
      const [a, b] = key.split("-");
      const segs = edgeParts[key] ? [key] : route(a, b) || [];
      for (const s of segs) total[s] = (total[s] || 0) + n;
    }
    state.edgeCounts = total;
    for (const [key, p] of Object.entries(edgeParts)) {
      const n = total[key] || 0;
      setText(p.label, n ? fmt(n) : "");
      setAttr(p.label, "data-count", n);
      p.g.classList.toggle("hot", n > 0);
    }
  }

  // ------------------------------------------------------------------ flows: dots and the waterfall
  function animate(segs, startAt, label, onStart, target) {
    const dotsG = $("#dots");
    const begin = () => {
      if (state.dots >= MAX_DOTS || !segs.length) return; // not drawn: onStart is not called
      if (onStart) onStart();
      state.dots++;
      const dot = svg("circle", { class: "dot", r: 9, cx: -50, cy: -50 });
      dotsG.append(dot);
      const t0 = performance.now(), dur = SEGMENT_MS * segs.length;
      const paths = segs.map((k) => edgeParts[k].path);
      const lens = paths.map((p) => p.getTotalLength());
      const step = (now) => {
        const f = Math.max(0, Math.min(1, (now - t0) / dur)); // a frame's time can precede t0
        const i = Math.min(paths.length - 1, Math.floor(f * paths.length));
        const local = f * paths.length - i;
        const pt = paths[i].getPointAtLength(lens[i] * Math.min(1, local));
        dot.setAttribute("cx", pt.x.toFixed(1));
        dot.setAttribute("cy", pt.y.toFixed(1));
        if (f < 1) return requestAnimationFrame(step);
        dot.remove();
        state.dots--;
        if (label) {
          const b = NODES[target];
          const at = b ? { x: b.x + b.w - 6, y: b.y + 6, "text-anchor": "end" } : { x: pt.x + 8, y: pt.y - 10 };
          const txt = svg("text", { class: "hopms", ...at }, label);
          dotsG.append(txt);
          setTimeout(() => txt.remove(), 2200);
        }
      };
      requestAnimationFrame(step);
    };
    const wait = startAt - Date.now();
    if (wait > 5) setTimeout(begin, wait);
    else begin();
  }

  function onFlow(flow) {
    if (!flow || !flow.id) return;
    const id = String(flow.id);
    let rec = state.flows.get(id);
    if (!rec) {
      rec = { flow, drawn: new Set(), ends: {} };
      state.flows.set(id, rec);
      state.order.unshift(id);
      while (state.order.length > 30) state.flows.delete(state.order.pop());
    }
    rec.flow = flow;
    const hops = Array.isArray(flow.hops) ? flow.hops : [];
    const now = Date.now();
    const drawnNow = [];
    hops.forEach((hop, i) => {
      if (!hop || hop.at_ms == null || rec.drawn.has(i)) return;
      rec.drawn.add(i);
      const last = i === hops.length - 1;
      // drawn[id]: when the last hop is first on screen: its line in the waterfall (the next redraw, when the flow
      // is among the 12 listed) or else its dot; animated[id]: when its dot sets off (one edge after the other,
      // SEGMENT_MS each). A flow neither listed nor animated (a burst past MAX_DOTS) is not recorded as drawn.
      if (last && !(id in window.polydemo.drawn)) drawnNow.push(id);
      const mark = last ? () => {
        const t = Date.now();
        if (!(id in window.polydemo.animated)) window.polydemo.animated[id] = t;
        if (!(id in window.polydemo.drawn)) window.polydemo.drawn[id] = t; // its dot, if its line was never listed
      } : null;
      const from = hop.after != null && hops[hop.after] ? hops[hop.after].node : null;
      if (from == null) {
        rec.ends[i] = now;
        pulse(hop.node);
        if (mark) mark();
        return;
      }
      const segs = route(from, hop.node) || [];
      const start = Math.max(now, rec.ends[hop.after] || now);
      rec.ends[i] = start + SEGMENT_MS * segs.length;
      animate(segs, start, isNum(hop.ms) ? fmtMs(hop.ms) : "", mark, hop.node);
    });
    pendingDrawn.push(...drawnNow);
    scheduleWaterfall();
  }

  // The waterfall is redrawn at most WATERFALL_MS apart (a load test sends hundreds of messages a second), and a
  // flow's last hop is recorded as drawn (window.polydemo.drawn[id] = Date.now()) when that redraw put it on screen.
  const WATERFALL_MS = 200;
  let pendingDrawn = [], waterfallTimer = null, waterfallAt = 0;
  function scheduleWaterfall() {
    if (waterfallTimer !== null) return;
    const due = Math.max(0, waterfallAt + WATERFALL_MS - performance.now());
    waterfallTimer = setTimeout(() => {
      waterfallTimer = null;
      waterfallAt = performance.now();
      renderWaterfall();
      const t = Date.now();
      const listed = new Set(state.order.slice(0, LISTED));
      for (const d of pendingDrawn) {
        if (listed.has(d) && !(d in window.polydemo.drawn)) window.polydemo.drawn[d] = t;
        // handled[id]: the redraw that took its last hop in is done, listed or not (bench/web.py counts both)
        if (!(d in window.polydemo.handled)) window.polydemo.handled[d] = t;
      }
      pendingDrawn = [];
    }, due);
  }

  function pulse(node) {
    const p = parts[node];
    if (!p) return;
    p.g.classList.add("pulse");
    setTimeout(() => p.g.classList.remove("pulse"), 500);
  }

  function renderWaterfall() {
    const lis = [];
    for (const id of state.order.slice(0, LISTED)) {
      const { flow } = state.flows.get(id);
      const hops = Array.isArray(flow.hops) ? flow.hops : [];
      const known = hops.map((h) => (h && isNum(h.ms) ? h.ms : null)).filter((v) => v !== null);
      const total = known.length ? Math.max(...known) : null;
      const hidden = flow.entity === "post" && isHidden(flow.key);
      const head = el("div", { class: "head" },
        el("span", { class: "entity" }, String(flow.entity || "")),
        hidden ? el("span", { class: "label hidden-title" }, "hidden") : el("span", { class: "label" }, String(flow.label ?? flow.key ?? "")),
        el("span", { class: "entity" }, String(flow.op || "")),
        el("span", { class: "total" }, flow.complete ? fmtMs(total) : `${fmtMs(total)} …`));
      if (flow.entity === "post" && !hidden && flow.key) {
        head.append(el("button", { class: "btn hide", type: "button", "data-action": "hide", "data-post-id": String(flow.key), title: "hide this post's title from the big screen and the phones" }, "hide"));
      }
      const hopsDiv = el("div", { class: "hops" });
      hops.forEach((h) => {
        if (!h) return;
        const ms = isNum(h.ms) ? h.ms : null;
        const bar = el("span", { class: "bar" });
        bar.style.width = ms !== null && total ? `${Math.max(2, (ms / total) * 36)}px` : "2px";
        hopsDiv.append(el("span", { class: ms === null ? "hop unknown" : "hop", "data-hop": String(h.node || ""), title: h.unknown || h.detail || "" },
          bar, `${h.name} `, el("span", { class: "ms" }, ms === null ? "?" : fmtMs(ms))));
      });
      lis.push(el("li", { "data-flow-id": id, "data-complete": flow.complete ? "true" : "false" }, head, hopsDiv));
    }
    if (!lis.length) lis.push(el("li", { class: "muted" }, "no change seen yet: sign up or post"));
    $("#waterfall").replaceChildren(...lis);
  }

  // ------------------------------------------------------------------ the audience
  // A key (a feed line's "a→b" short ids, a flow's "a:b") that names a hidden post. The feed shortens ids of 32
  // characters or more to their first 8.
  function isHidden(key) {
    if (!state.hidden.size || key == null) return false;
    const bits = String(key).split(/[→:]/).filter(Boolean);
    for (const h of state.hidden) for (const b of bits) if (b === h || (b.length === 8 && h.length >= 32 && h.startsWith(b))) return true;
    return false;
  }
  let newestSig = "";
  function renderAudience(a) {
    if (!a || typeof a !== "object") return;
    state.audience = a;
    window.polydemo.audience = a;
    const hidden = new Set((Array.isArray(a.hidden) ? a.hidden : []).map(String));
    if ([...hidden].join() !== [...state.hidden].join()) {
      state.hidden = hidden;
      renderWaterfall();
      if (state.snapshot) renderFeed(state.snapshot);
    }
    const box = $("#audience");
    const on = !!a.active;
    box.hidden = !on;
    setAttr(box, "data-active", on ? "true" : "false");
    document.body.classList.toggle("audience-on", on);
    if (!on) {
      newestSig = "";
      $("#audience-qr-box").replaceChildren(); // no <img> on the page without a session (nor a request for it)
      return;
    }
    const code = String(a.code || "");
    setText($("#audience-code"), code);
    setText($("#audience-url"), String(a.url || ""));
    let qr = $("#audience-qr");
    if (!qr) {
      qr = el("img", { id: "audience-qr", class: "aud-qr", width: "250", height: "250" });
      $("#audience-qr-box").replaceChildren(qr);
    }
    const src = `/api/audience/qr.svg?code=${encodeURIComponent(code)}`; // a new session: a new code, a new image
    if (qr.getAttribute("src") !== src) qr.setAttribute("src", src);
    qr.alt = `QR code of ${a.url || "the join address"}`;
    const users = $("#audience-users"), writes = $("#audience-writes");
    setText(users, fmt(a.users));
    setAttr(users, "data-count", isNum(a.users) ? a.users : 0);
    users.title = isNum(a.max) && a.max ? `at most ${fmt(a.max)}` : "";
    setText(writes, fmt(a.writes));
    setAttr(writes, "data-count", isNum(a.writes) ? a.writes : 0);
    const newest = (Array.isArray(a.newest) ? a.newest : []).filter((n) => n && n.id != null);
    const sig = JSON.stringify(newest.map((n) => [n.id, n.name]));
    if (sig !== newestSig) {
      newestSig = sig;
      $("#audience-newest").replaceChildren(...newest.map((n) => {
        const name = String(n.name ?? "");
        return el("li", { "data-user-id": String(n.id) }, el("span", { class: "name", title: name }, name),
          el("button", { class: "btn danger", type: "button", "data-action": "remove", title: `remove ${name}: delete this user` }, "remove"));
      }));
    }
    renderAudienceLag();
  }
  // The projectors' lag, from the snapshot: the largest, in messages and seconds.
  function renderAudienceLag() {
    const out = $("#audience-lag");
    if (!state.audience || !state.audience.active) return;
    const groups = ((state.snapshot && state.snapshot.kafka && state.snapshot.kafka.groups) || []).filter((g) => g && isNum(g.lag));
    if (!groups.length) {
      setText(out, "—");
      setAttr(out, "data-lag", "");
      return;
    }
    const lag = Math.max(...groups.map((g) => g.lag));
    const secs = Math.max(0, ...groups.map((g) => (isNum(g.lag_s) ? g.lag_s : 0)));
    setText(out, lag > 0 ? `${fmt(lag)} msg · ${secs.toFixed(1)} s` : "0 msg");
    setAttr(out, "data-lag", lag);
    setAttr(out, "data-lagging", lag > 0 ? "true" : "false");
  }

  // ------------------------------------------------------------------ captions
  let captionTimer = null;
  function onCaption(c) {
    if (!c) return;
    const box = $("#caption");
    const mark = c.ok === true ? el("span", { class: "ok" }, " ✓") : c.ok === false ? el("span", { class: "bad" }, " ✗") : "";
    box.replaceChildren(el("span", { class: "step" }, `${c.scenario || ""} ${c.step ?? ""}/${c.of ?? ""}`), String(c.text || ""), mark);
    box.hidden = false;
    clearTimeout(captionTimer);
    captionTimer = setTimeout(() => (box.hidden = true), 12000);
  }

  // ------------------------------------------------------------------ the live socket, with backoff
  let backoff = 500, ws = null, retryTimer = null;
  function setLive(on, text) {
    state.live = on;
    const pill = $("#live-state");
    setAttr(pill, "data-ok", on ? "true" : "false");
    setText(pill, on ? "live" : text || "offline");
    setNode("gateway", on, { st: on ? "live" : "unreachable", sub: on ? location.host : "", error: on ? null : text });
    if (edgeParts["ui-gateway"]) setAttr(edgeParts["ui-gateway"].g, "data-ok", on ? "true" : "false");
    $("#banner").hidden = on;
    document.body.classList.toggle("stale", !on); // what is drawn is the last snapshot, not now
  }
  function connect() {
    clearTimeout(retryTimer);
    const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/api/live`;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      return retry();
    }
    ws.onopen = () => {
      backoff = 500;
      setLive(true);
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      try {
        if (msg.type === "snapshot" && msg.data) renderSnapshot(msg.data);
        else if (msg.type === "flow") onFlow(msg.data);
        else if (msg.type === "edges") renderEdges(msg.data);
        else if (msg.type === "caption") onCaption(msg.data);
        else if (msg.type === "audience") renderAudience(msg.data);
      } catch (e) {
        console.error("polydemo: message not drawn", msg.type, e);
      }
    };
    ws.onclose = () => retry();
    ws.onerror = () => { /* onclose follows */ };
  }
  function retry() {
    const wait = backoff;
    backoff = Math.min(backoff * 2, 8000);
    setLive(false, "reconnecting…");
    setText($("#banner"), `reconnecting… (next try in ${(wait / 1000).toFixed(1)} s)`);
    $("#banner").hidden = false;
    retryTimer = setTimeout(() => {
      connect();
      loadInitial();
    }, wait);
  }
  async function loadInitial() {
    try {
      const r = await fetch("/api/snapshot", { cache: "no-store" });
      if (r.ok) renderSnapshot(await r.json());
    } catch (e) { /* the socket's retry says so */ }
    try {
      const r = await fetch("/api/flows", { cache: "no-store" });
      if (r.ok) {
        const body = await r.json();
        for (const f of body.flows || []) {
          // The history is listed, not animated (its dots would all run at once).
          if (!f || !f.id || state.flows.has(String(f.id))) continue;
          const hops = Array.isArray(f.hops) ? f.hops : [];
          state.flows.set(String(f.id), { flow: f, drawn: new Set(hops.map((_, i) => i)), ends: {} });
          state.order.unshift(String(f.id));
        }
        renderWaterfall();
      }
    } catch (e) { /* as above */ }
  }

  // ------------------------------------------------------------------ GraphQL
  class GqlError extends Error {
    constructor(message, code, hint) {
      super(message);
      this.code = code;
      this.hint = hint;
    }
  }
  async function gql(query, variables = {}) {
    const headers = { "content-type": "application/json", accept: "application/json" };
    if (state.token) headers.authorization = `Bearer ${state.token}`;
    let r;
    try {
      r = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
    } catch (e) {
      throw new GqlError("the gateway is not answering", "UNAVAILABLE", "is `polydemo web` running?");
    }
    let body = null;
    try {
      body = await r.json();
    } catch (e) {
      throw new GqlError(`HTTP ${r.status} from /graphql`, null, null);
    }
    if (body && Array.isArray(body.errors) && body.errors.length) {
      const e = body.errors[0] || {};
      const ext = e.extensions || {};
      throw new GqlError(String(e.message || "error"), ext.code || null, ext.hint || null);
    }
    if (!r.ok) throw new GqlError(`HTTP ${r.status} from /graphql`, null, null);
    return (body && body.data) || {};
  }
  let msgTimer = null;
  function say(text, ok) {
    const line = $("#error");
    line.hidden = false;
    line.classList.toggle("okmsg", !!ok);
    setText(line, text);
    line.title = text;
    clearTimeout(msgTimer);
    msgTimer = setTimeout(() => (line.hidden = true), ok ? 6000 : 20000);
  }
  function errText(e) {
    if (!(e instanceof GqlError)) return String((e && e.message) || e);
    return e.message + (e.code ? ` [${e.code}]` : "") + (e.hint ? ` — hint: ${e.hint}` : "");
  }
  async function act(button, fn) {
    if (button) button.disabled = true;
    try {
      const okText = await fn();
      if (okText) say(okText, true);
    } catch (e) {
      say(errText(e), false);
    } finally {
      if (button) button.disabled = false;
    }
  }

  // ------------------------------------------------------------------ session
  function setSession(token, user) {
    state.token = token;
    state.user = user;
    try {
      if (token) {
        sessionStorage.setItem("polydemo-token", token);
        sessionStorage.setItem("polydemo-user", JSON.stringify(user || null));
      } else {
        sessionStorage.removeItem("polydemo-token");
        sessionStorage.removeItem("polydemo-user");
      }
    } catch (e) { /* storage refused: this tab only */ }
    const who = $("#whoami");
    setText(who, user ? `${user.name || ""} <${user.email || ""}>` : "not signed in");
    who.classList.toggle("in", !!user);
    setText(parts.ui.sub, user ? trunc(user.name || user.email, 14) : "anonymous");
    setText(parts.ui.state, user ? "signed in" : "");
    setAttr(parts.ui.g, "data-ok", "true");
  }
  function loadSession() {
    try {
      const token = sessionStorage.getItem("polydemo-token");
      const user = JSON.parse(sessionStorage.getItem("polydemo-user") || "null");
      setSession(token, token ? user : null);
    } catch (e) {
      setSession(null, null);
    }
  }

  // ------------------------------------------------------------------ controls
  const val = (id) => $(`#${id}`).value.trim();
  function wire() {
    $("#signup-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      act($("#signup-submit"), async () => {
        const d = await gql(
          "mutation($email: String!, $name: String!, $password: String!) { signUp(email: $email, name: $name, password: $password) { token user { id email name } } }",
          { email: val("signup-email"), name: $("#signup-name").value, password: $("#signup-password").value },
        );
        setSession(d.signUp.token, d.signUp.user);
        $("#signup-password").value = "";
        return `signed up ${d.signUp.user.email}: watch it travel`;
      });
    });
    $("#signin-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      act($("#signin-submit"), async () => {
        const d = await gql(
          "mutation($email: String!, $password: String!) { signIn(email: $email, password: $password) { token expiresIn user { id email name } } }",
          { email: val("signin-email"), password: $("#signin-password").value },
        );
        setSession(d.signIn.token, d.signIn.user);
        $("#signin-password").value = "";
        return `signed in as ${d.signIn.user.email}`;
      });
    });
    $("#signout-submit").addEventListener("click", (ev) => {
      act(ev.currentTarget, async () => {
        if (state.token) {
          try {
            await gql("mutation { signOut }");
          } finally {
            setSession(null, null);
          }
        }
        return "signed out";
      });
    });
    $("#post-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const mode = $("#post-mode").value;
      if (!["RELAY", "DUAL_WRITE", "OUTBOX"].includes(mode)) return;
      act($("#post-submit"), async () => {
        const d = await gql(`mutation($title: String!, $body: String!) { post(title: $title, body: $body, mode: ${mode}) { id title mode } }`,
          { title: $("#post-title").value, body: "posted from the live view" });
        $("#post-title").value = "";
        return `posted "${d.post.title}" (${d.post.mode})`;
      });
    });
    $("#follow-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      act($("#follow-submit"), async () => {
        const d = await gql("mutation($f: String!) { follow(followee: $f) { follower followee changed } }", { f: val("follow-email") });
        return d.follow.changed ? `now following ${d.follow.followee}` : `already following ${d.follow.followee}`;
      });
    });
    for (const b of document.querySelectorAll("[data-projector]")) {
      b.addEventListener("click", () => {
        const name = b.dataset.projector, action = String(b.dataset.action || "").toUpperCase();
        if (!PROJECTORS.includes(name) || !["KILL", "START", "STOP"].includes(action)) return;
        act(b, async () => {
          const d = await gql(`mutation($n: String!) { projector(name: $n, action: ${action}) }`, { n: name });
          return `${name} ${action.toLowerCase()}: ${d.projector}`;
        });
      });
    }
    for (const b of document.querySelectorAll("[data-connector]")) {
      b.addEventListener("click", () => {
        const action = String(b.dataset.action || "").toUpperCase();
        if (!["PAUSE", "RESUME"].includes(action)) return;
        act(b, async () => {
          const d = await gql(`mutation { connector(action: ${action}) }`);
          return `connector ${action.toLowerCase()}: ${d.connector}`;
        });
      });
    }
    $("#scenario-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = val("scenario-name") || "tour";
      act($("#scenario-submit"), async () => {
        const d = await gql("mutation($n: String!) { runScenario(name: $n) }", { n: name });
        return `scenario ${name}: ${d.runScenario}`;
      });
    });
    // The audience: end it (a second click within 4 s confirms: no dialog), remove a name, hide a post.
    let endArmed = null;
    $("#audience-end").addEventListener("click", (ev) => {
      const b = ev.currentTarget;
      if (!endArmed) {
        setText(b, "really end? click again");
        endArmed = setTimeout(() => {
          endArmed = null;
          setText(b, "end audience");
        }, 4000);
        return;
      }
      clearTimeout(endArmed);
      endArmed = null;
      setText(b, "end audience");
      act(b, async () => {
        const d = await gql("mutation { endAudience }");
        return d.endAudience ? "audience ended: the code and every audience token expired" : "no audience session was open";
      });
    });
    $("#audience-newest").addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-action='remove']");
      const li = b && b.closest("[data-user-id]");
      if (!li) return;
      const id = li.dataset.userId, name = li.querySelector(".name").textContent;
      act(b, async () => {
        await gql("mutation($u: String!) { removeUser(user: $u) { id } }", { u: id });
        li.remove();
        return `removed ${name}`;
      });
    });
    $("#waterfall").addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-action='hide']");
      if (!b) return;
      const id = b.dataset.postId;
      act(b, async () => {
        await gql("mutation($p: String!) { hidePost(postId: $p) }", { p: id });
        state.hidden.add(id);
        renderWaterfall();
        if (state.snapshot) renderFeed(state.snapshot);
        return "post hidden";
      });
    });
    $("#consistency-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      refreshReads();
    });
    $("#theme-toggle").addEventListener("click", () => {
      const next = document.documentElement.dataset.theme === "light" ? "dark" : "light";
      document.documentElement.dataset.theme = next;
      try {
        localStorage.setItem("polydemo-theme", next);
      } catch (e) { /* not remembered */ }
    });
  }

  // ------------------------------------------------------------------ strong vs eventual, every 2 s
  const READ_FIELDS = "store found name followers verdict consistency lagMessages lagMs waitedMs";
  // One line per store read: user(...) answers a list (STRONG: Postgres; EVENTUAL: Redis and Neo4j).
  function showRead(box, reads, error) {
    const list = box.querySelector("ol");
    const lis = [];
    if (error) {
      lis.push(el("li", { class: "bad" }, error));
      setAttr(box, "data-verdict", "error");
    } else if (!reads) {
      lis.push(el("li", { class: "muted" }, "type an email, or sign in"));
      setAttr(box, "data-verdict", "");
    } else {
      const arr = Array.isArray(reads) ? reads : [reads];
      for (const r of arr.filter(Boolean)) {
        const lag = r.consistency === "STRONG" ? "" : ` · lag ${fmt(r.lagMessages)} msg / ${fmtMs(r.lagMs)}`;
        const verdict = String(r.verdict || "");
        lis.push(el("li", { "data-store": String(r.store || ""), "data-found": r.found ? "true" : "false" },
          el("b", {}, `${r.store}: `),
          el("span", { class: "name" }, r.found ? String(r.name ?? "") : "(not there)"),
          el("span", { class: /sync|truth|caught/.test(verdict) ? "verdict ok" : "verdict warn" }, ` · ${verdict}`),
          el("span", { class: "muted" }, lag)));
      }
      if (!lis.length) lis.push(el("li", { class: "muted" }, "no store answered"));
      setAttr(box, "data-verdict", arr.every((r) => r && r.found) ? "found" : "missing");
    }
    list.replaceChildren(...lis);
  }
  let reading = false;
  async function refreshReads() {
    const id = val("consistency-id") || (state.user && (state.user.email || state.user.id)) || "";
    const strong = $("#read-strong"), eventual = $("#read-eventual");
    if (!id) {
      showRead(strong, null);
      showRead(eventual, null);
      return;
    }
    if (reading) return;
    reading = true;
    try {
      const d = await gql(`query($id: String!) { s: user(id: $id, consistency: STRONG) { ${READ_FIELDS} } e: user(id: $id, consistency: EVENTUAL) { ${READ_FIELDS} } }`, { id });
      showRead(strong, d.s);
      showRead(eventual, d.e);
    } catch (e) {
      showRead(strong, null, errText(e));
      showRead(eventual, null, errText(e));
    } finally {
      reading = false;
    }
  }

  // ------------------------------------------------------------------ start
  window.polydemo.render = renderSnapshot; // a hook for the browser test: draw a given Snapshot (it must not throw)
  buildGraph();
  loadSession();
  setLive(false, "connecting…");
  $("#banner").hidden = true; // not "reconnecting" before the first try failed
  renderWaterfall();
  wire();
  loadInitial();
  connect();
  refreshReads();
  setInterval(refreshReads, 2000);
})();
