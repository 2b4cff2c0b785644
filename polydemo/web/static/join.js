// polydemo's phone page for the audience (docs/web.md, "Audience mode"): plain ES2020, no framework, no build step,
// nothing from a CDN. It joins with the code from ?code= and a name, keeps the token in localStorage, and polls
// POST /graphql (the audience listener has no WebSocket): myJourney every second (every 5 s once the last write
// arrived everywhere and 20 s went by), people and posts every 5 s; nothing while the page is not visible.
// Every piece of user text (names, titles, errors) goes in through textContent or createTextNode, never innerHTML.
"use strict";

(() => {
  const $ = (sel) => document.querySelector(sel);
  const KEY = "polydemo-audience";
  const JOURNEY_EVERY_MS = 1000;
  const LISTS_EVERY_MS = 5000;
  const IDLE_EVERY_MS = 5000; // myJourney once the last write arrived everywhere and 20 s went by (a room of phones)
  const code = (new URLSearchParams(location.search).get("code") || "").trim().toUpperCase();

  const state = {
    token: null,
    user: null, // {id, name}
    code,
    following: new Set(), // ids this phone followed (the server does not say; kept with the token)
    write: null, // the last write made from this phone: {kind, label, match(flow), seen: Set<flow id>}
    flows: [], // the last myJourney answer
    journey: null, // the flow shown
    ended: false,
    pausedUntil: 0, // polling waits after a RATE_LIMITED answer
  };
  window.polydemoJoin = { state, version: 1 };

  // ------------------------------------------------------------------ helpers
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  const fmtMs = (ms) => (ms >= 10000 ? (ms / 1000).toFixed(1) + " s" : Math.round(ms) + " ms");
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  // ------------------------------------------------------------------ storage
  function save() {
    try {
      if (state.token) {
        localStorage.setItem(KEY, JSON.stringify({ token: state.token, user: state.user, code: state.code, following: [...state.following] }));
      } else localStorage.removeItem(KEY);
    } catch (e) { /* storage refused: this page only */ }
  }
  function load() {
    try {
      const s = JSON.parse(localStorage.getItem(KEY) || "null");
      if (!s || typeof s.token !== "string" || !s.token) return false;
      if (code && s.code && s.code !== code) return false; // a new session's code: the old token is over
      state.token = s.token;
      state.user = s.user && typeof s.user === "object" ? { id: String(s.user.id || ""), name: String(s.user.name || "") } : null;
      if (!code && s.code) state.code = String(s.code);
      state.following = new Set(Array.isArray(s.following) ? s.following.map(String) : []);
      return true;
    } catch (e) {
      return false;
    }
  }
  function forget() {
    state.token = null;
    state.user = null;
    state.following = new Set();
    state.write = null;
    state.flows = [];
    state.journey = null;
    save();
  }

  // ------------------------------------------------------------------ GraphQL
  class GqlError extends Error {
    constructor(message, code, hint, retryAfterMs) {
      super(message);
      this.code = code;
      this.hint = hint;
      this.retryAfterMs = retryAfterMs;
    }
  }
  async function gql(query, variables = {}) {
    const headers = { "content-type": "application/json", accept: "application/json" };
    if (state.token) headers.authorization = `Bearer ${state.token}`;
    let r;
    try {
      r = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }), cache: "no-store" });
    } catch (e) {
      throw new GqlError("the demo is not answering", "UNAVAILABLE", "check the phone's Wi-Fi: it must be on the room's network");
    }
    let body = null;
    try {
      body = await r.json();
    } catch (e) {
      throw new GqlError(`HTTP ${r.status}`, r.status === 404 ? "AUDIENCE_CLOSED" : null, null);
    }
    if (body && Array.isArray(body.errors) && body.errors.length) {
      const e = body.errors[0] || {};
      const ext = e.extensions || {};
      throw new GqlError(String(e.message || "error"), ext.code || null, ext.hint || null, isNum(ext.retryAfterMs) ? ext.retryAfterMs : null);
    }
    if (!r.ok) throw new GqlError(`HTTP ${r.status}`, null, null);
    return (body && body.data) || {};
  }

  // ------------------------------------------------------------------ the one status line
  let sayTimer = null;
  function say(text, ok) {
    const line = $("#error");
    line.hidden = !text;
    line.classList.toggle("ok", !!ok);
    setText(line, text || "");
    clearTimeout(sayTimer);
    if (text && !state.ended) sayTimer = setTimeout(() => (line.hidden = true), ok ? 4000 : 12000);
  }
  function errText(e) {
    if (!(e instanceof GqlError)) return String((e && e.message) || e);
    return e.message + (e.hint ? ` — ${e.hint}` : "");
  }
  // What every failed call does first; true when it was handled (the session ended or was lost).
  function fatal(e) {
    if (!(e instanceof GqlError)) return false;
    if (e.code === "AUDIENCE_CLOSED") {
      end(e);
      return true;
    }
    if (e.code === "UNAUTHENTICATED" && state.token) {
      forget();
      show("join");
      say(`you are signed out: ${errText(e)} — join again`);
      return true;
    }
    return false;
  }
  function end(e) {
    state.ended = true;
    forget();
    show("ended");
    say(`this session has ended${e ? `: ${errText(e)}` : ""}`);
  }

  // A button's call. RATE_LIMITED: "slow down", and the same call again by itself after retryAfterMs, once.
  function act(button, fn, retried = false) {
    if (button) button.disabled = true;
    let again = false;
    return fn()
      .then((okText) => {
        if (okText) say(okText, true);
      })
      .catch((e) => {
        if (fatal(e)) return;
        if (e instanceof GqlError && e.code === "RATE_LIMITED") {
          if (!retried) {
            const wait = Math.min(10000, Math.max(100, (e.retryAfterMs || 1000) + 50)); // a hair past it: refilled by then
            say(`slow down: trying again in ${(wait / 1000).toFixed(1)} s — ${e.message}`);
            again = true;
            setTimeout(() => act(button, fn, true), wait);
            return;
          }
          say(`slow down: ${errText(e)}`);
          return;
        }
        say(errText(e));
      })
      .finally(() => {
        if (button && !again) button.disabled = false;
      });
  }

  // ------------------------------------------------------------------ views
  function show(view) {
    $("#join-view").hidden = view !== "join";
    $("#app-view").hidden = view !== "app";
    $("#ended-view").hidden = view !== "ended";
    const who = $("#who");
    who.hidden = view !== "app" || !state.user;
    setText(who, state.user ? state.user.name : "");
    if (view === "join") {
      setText($("#join-code"), state.code || "—");
      $("#join-submit").disabled = !state.code;
      if (!state.code) say("no join code in this address: scan the QR code on the big screen again");
    }
  }

  // ------------------------------------------------------------------ the journey of this phone's last write
  const PROJECTORS = new Set(["graph", "cache", "analytics"]);
  const STAGE = {
    postgres: "committed in Postgres",
    mongo: "written to Mongo",
    kafka: "on Kafka",
    neo4j: "in Neo4j",
    redis: "in Redis",
    timeseries: "in the time-series store",
  };
  const ROUTE = { post: ["mongo", "kafka", "timeseries"], user: ["postgres", "kafka", "neo4j", "redis", "timeseries"] };

  function pick() {
    const flows = state.flows;
    const w = state.write;
    if (w) {
      const mine = flows.filter((f) => f && !w.seen.has(String(f.id)) && w.match(f));
      return mine.length ? mine[mine.length - 1] : null; // null: not on its way yet (all pending)
    }
    let best = null; // no write from this page yet (a reload): the newest by its commit
    for (const f of flows) if (f && (!best || (f.origin_ms || 0) >= (best.origin_ms || 0))) best = f;
    return best;
  }
  function renderJourney() {
    const flow = pick();
    state.journey = flow;
    const w = state.write;
    const box = $("#journey");
    let hops;
    if (flow) hops = (Array.isArray(flow.hops) ? flow.hops : []).filter((h) => h && !PROJECTORS.has(h.node));
    else if (w) hops = ROUTE[w.kind === "post" ? "post" : "user"].map((node) => ({ node, ms: null }));
    else {
      box.replaceChildren();
      setText($("#journey-what"), "post or follow someone: then watch it travel");
      return;
    }
    const known = hops.map((h) => (isNum(h.ms) ? h.ms : null)).filter((v) => v !== null);
    const max = Math.max(1, ...known);
    const lis = hops.map((h) => {
      const ms = isNum(h.ms) ? h.ms : null;
      const bar = el("span", { class: "bar" });
      bar.style.width = ms === null ? "0" : `${Math.max(2, (ms / max) * 100)}%`;
      return el("li", { "data-hop": String(h.node || ""), "data-ms": ms === null ? "" : String(Math.round(ms)), class: ms === null ? "pending" : "done" },
        el("span", { class: "stage" }, STAGE[h.node] || String(h.name || h.node || "")),
        el("span", { class: "ms" }, ms === null ? "pending…" : h.after == null ? "✓" : `+${fmtMs(ms)}`),
        el("span", { class: "track" }, bar));
    });
    box.replaceChildren(...lis);
    const what = flow ? `${flow.entity === "post" ? "your post" : flow.entity === "follow" ? "your follow" : "your sign-up"}: ${flow.label ?? ""}` : `${w.label}: on its way…`;
    const done = flow && flow.complete && known.length ? ` · every store in ${fmtMs(Math.max(...known))}` : "";
    setText($("#journey-what"), what + done);
  }
  // Remember what this phone just wrote, and which flows were already there (so an older one is not taken for it).
  function wrote(kind, label, match) {
    state.write = { kind, label, match, seen: new Set(state.flows.map((f) => String(f && f.id))), at: Date.now() };
    renderJourney();
    pollJourney(true);
  }

  let journeyBusy = false, journeyAt = 0;
  async function pollJourney(now = false) {
    if (!state.token || state.ended || journeyBusy || (!now && (document.hidden || Date.now() < state.pausedUntil))) return;
    const idle = state.journey && state.journey.complete && (!state.write || Date.now() - state.write.at > 20000);
    if (!now && idle && Date.now() - journeyAt < IDLE_EVERY_MS) return;
    journeyBusy = true;
    journeyAt = Date.now();
    const asked = state.token;
    try {
      const d = await gql("query { myJourney }");
      if (state.token !== asked) return; // left (or joined again) meanwhile
      let j = d.myJourney;
      if (typeof j === "string") j = JSON.parse(j);
      state.flows = j && Array.isArray(j.flows) ? j.flows.filter(Boolean) : [];
      renderJourney();
    } catch (e) {
      quietly(e);
    } finally {
      journeyBusy = false;
    }
  }
  // A failed poll: the session's end is said; a rate limit pauses the polls; anything else is said once in a while.
  let lastPollError = 0;
  function quietly(e) {
    if (fatal(e)) return;
    if (e instanceof GqlError && e.code === "RATE_LIMITED") {
      state.pausedUntil = Date.now() + Math.min(10000, Math.max(200, e.retryAfterMs || 1000));
      return;
    }
    if (Date.now() - lastPollError > 10000) {
      lastPollError = Date.now();
      say(errText(e));
    }
  }

  // ------------------------------------------------------------------ people and posts
  let listsBusy = false, listsAgain = false, listsSig = "";
  async function pollLists() {
    if (listsBusy) listsAgain = true; // asked while a poll is out: once more when it is back (it may predate a write)
    if (!state.token || state.ended || listsBusy || document.hidden || Date.now() < state.pausedUntil) return;
    listsBusy = true;
    const asked = state.token;
    try {
      const d = await gql("query { people(limit: 12) { id name } posts(limit: 12) { id title likes author } }");
      if (state.token !== asked) return;
      const sig = JSON.stringify([d.people, d.posts, [...state.following]]);
      if (sig !== listsSig) {
        listsSig = sig;
        renderPeople(Array.isArray(d.people) ? d.people : []);
        renderPosts(Array.isArray(d.posts) ? d.posts : []);
      }
    } catch (e) {
      quietly(e);
    } finally {
      listsBusy = false;
      if (listsAgain) {
        listsAgain = false;
        setTimeout(pollLists, 0);
      }
    }
  }
  function renderPeople(people) {
    const lis = people.filter(Boolean).map((p) => {
      const id = String(p.id), on = state.following.has(id);
      return el("li", { "data-person-id": id, class: on ? "on" : "" },
        el("span", { class: "name" }, String(p.name ?? "")),
        el("button", { class: on ? "btn" : "btn primary", type: "button", "data-action": on ? "unfollow" : "follow" }, on ? "unfollow" : "follow"));
    });
    if (!lis.length) lis.push(el("li", { class: "muted" }, "nobody yet"));
    $("#people").replaceChildren(...lis);
  }
  function renderPosts(posts) {
    const lis = posts.filter(Boolean).map((p) =>
      el("li", { "data-post-id": String(p.id) },
        el("span", { class: "name" }, String(p.title ?? ""),
          el("span", { class: "muted meta" }, `${p.author ? `by ${p.author} · ` : ""}`, el("span", { class: "likes" }, `♥ ${isNum(p.likes) ? p.likes : 0}`))),
        el("button", { class: "btn", type: "button", "data-action": "like" }, "like")));
    if (!lis.length) lis.push(el("li", { class: "muted" }, "no posts yet: be the first"));
    $("#posts").replaceChildren(...lis);
  }

  // ------------------------------------------------------------------ the controls
  function signedIn(token, user) {
    state.token = token;
    state.user = user;
    state.ended = false;
    save();
    show("app");
  }
  function wire() {
    $("#join-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = $("#join-name").value;
      if (!state.code) return show("join");
      act($("#join-submit"), async () => {
        const d = await gql("mutation($c: String!, $n: String!) { join(code: $c, name: $n) { token user { id name } } }", { c: state.code, n: name });
        signedIn(d.join.token, { id: String(d.join.user.id), name: String(d.join.user.name ?? "") });
        const me = state.user.id;
        wrote("user", "your sign-up", (f) => f.entity === "user" && String(f.key).split(":").includes(me));
        pollLists();
        return `welcome, ${state.user.name}: look at the big screen`;
      });
    });
    $("#post-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const title = $("#post-title").value;
      act($("#post-submit"), async () => {
        const d = await gql("mutation($t: String!) { post(title: $t, body: \"\") { id title } }", { t: title });
        $("#post-title").value = "";
        const id = String(d.post.id ?? "");
        wrote("post", "your post", (f) => f.entity === "post" && String(f.key) === id);
        listsSig = "";
        pollLists();
        return `posted: ${d.post.title}`;
      });
    });
    $("#people").addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-action]");
      const li = b && b.closest("[data-person-id]");
      if (!li) return;
      const id = li.dataset.personId, follow = b.dataset.action === "follow";
      const name = li.querySelector(".name").textContent;
      act(b, async () => {
        const op = follow ? "follow" : "unfollow";
        const d = await gql(`mutation($f: String!) { ${op}(followee: $f) { changed } }`, { f: id });
        if (follow) state.following.add(id);
        else state.following.delete(id);
        save();
        listsSig = "";
        pollLists();
        if (d[op] && d[op].changed) wrote("follow", follow ? `you follow ${name}` : `you unfollowed ${name}`, (f) => f.entity === "follow" && String(f.key).split(":").includes(id));
        return follow ? `you follow ${name}` : `you unfollowed ${name}`;
      });
    });
    $("#posts").addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-action='like']");
      const li = b && b.closest("[data-post-id]");
      if (!li) return;
      const id = li.dataset.postId;
      act(b, async () => {
        const d = await gql("mutation($p: String!) { like(postId: $p) { id likes } }", { p: id });
        const likes = li.querySelector(".likes");
        if (likes && d.like && isNum(d.like.likes)) setText(likes, `♥ ${d.like.likes}`);
        b.classList.add("liked");
        return "liked";
      });
    });
    const leave = (ev) => {
      ev.preventDefault();
      forget();
      state.ended = false;
      say("");
      show("join");
      $("#join-name").focus();
    };
    $("#leave").addEventListener("click", leave);
    $("#ended-leave").addEventListener("click", leave);
  }

  // ------------------------------------------------------------------ start
  wire();
  if (load()) {
    show("app");
    const asked = state.token;
    gql("query { me { id name } }")
      .then((d) => {
        if (d.me && state.token === asked) { // not a late answer for a token left since
          state.user = { id: String(d.me.id), name: String(d.me.name ?? "") };
          save();
          show("app");
        }
      })
      .catch((e) => quietly(e));
    pollJourney();
    pollLists();
  } else show("join");
  setInterval(pollJourney, JOURNEY_EVERY_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      pollJourney(true);
      pollLists();
    }
  });
  setInterval(pollLists, LISTS_EVERY_MS);
})();
