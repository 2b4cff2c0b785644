#!/usr/bin/env bash
# The install-from-wheel path, proved: build the wheel, install it into a fresh venv outside the checkout,
# and from an empty directory run what a `pip install`/`pipx install` user runs first:
#   polydemo --version · scenario list (all the built-ins) · scenario validate (each) · doctor --json
# and check that the packaged data equals the repository's files, byte for byte.
#   --stack   then also: polydemo setup && up && seed && scenario run tour --speed 100 && down, on its own
#             ports (POLYDEMO_PORT_OFFSET, default 25000: clear of the suite's 20000/21000) and its own home;
#             then, as root, the same again as a freshly made non-root user on /usr/bin/python3 with pipx and
#             no certificate variables (scripts/check-laptop.sh, ports +26000; WHEEL_CHECK_LAPTOP=0 skips it)
# Used by `make wheel-check` and .ci/run. Needs python3 with venv; the dependencies come from PyPI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
STACK=0
[ "${1:-}" = "--stack" ] && STACK=1
say() { printf '\033[1;35m[wheel-check]\033[0m %s\n' "$*"; }
fail() { printf '\033[1;31m[wheel-check] FAILED:\033[0m %s\n' "$*" >&2; exit 1; }

WORK="$(mktemp -d /tmp/polydemo-wheel-XXXXXX)"
chmod 755 "$WORK"  # as root, PostgreSQL runs as the postgres user and must reach its data directory
cleanup() {
  if [ "$STACK" = 1 ] && [ -x "$WORK/venv/bin/polydemo" ]; then
    (cd "$WORK/empty" && "$WORK/venv/bin/polydemo" down >/dev/null 2>&1) || true
  fi
  [ "${KEEP_WHEEL_CHECK:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------- build
say "building the wheel"
"$PY" -m venv "$WORK/build-venv"
# A copy of the tree, so the build leaves nothing (build/, *.egg-info) in the checkout.
mkdir -p "$WORK/src"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
   | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done | xargs -0 cp --parents -t "$WORK/src")
"$WORK/build-venv/bin/pip" wheel -q --disable-pip-version-check --no-deps -w "$WORK/dist" "$WORK/src" >"$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log"; fail "pip wheel"; }
WHEEL="$(ls "$WORK"/dist/polydemo-*.whl)"
say "$(basename "$WHEEL"): $(du -k "$WHEEL" | cut -f1) kB, $("$PY" -m zipfile -l "$WHEEL" | tail -n +2 | wc -l) files"

# ---------------------------------------------------------------- install, outside the checkout
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q --disable-pip-version-check "$WHEEL" || fail "pip install $(basename "$WHEEL")"
mkdir -p "$WORK/empty" && chmod 755 "$WORK/empty"
cd "$WORK/empty"
# Nothing from the environment may point back into a checkout.
unset POLYDEMO_HOME POLYDEMO_RESOURCES POLYDEMO_SCENARIOS
export XDG_DATA_HOME="$WORK/xdg-data"  # the default home (platformdirs) lands in the scratch directory
PD="$WORK/venv/bin/polydemo"
if [ "$STACK" = 1 ]; then
  export POLYDEMO_PORT_OFFSET="${POLYDEMO_PORT_OFFSET:-25000}" POLYDEMO_RUNTIME=local
fi
# 27017 + an offset above 38518 leaves the port range: the Mongo port then needs its own value.
if [ -n "${POLYDEMO_PORT_OFFSET:-}" ] && [ $((27017 + POLYDEMO_PORT_OFFSET)) -gt 65535 ]; then
  export POLYDEMO_MONGO_PORT="${POLYDEMO_MONGO_PORT:-$((POLYDEMO_PORT_OFFSET + 4017))}"
fi

want_version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml")"
got="$("$PD" --version)"
[ "$got" = "polydemo $want_version" ] || fail "--version said '$got', expected 'polydemo $want_version'"
say "--version: $got"

builtins="$(cd "$ROOT/scenarios" && ls *.yaml | sed 's/\.yaml$//' | sort | tr '\n' ' ')"
listed="$("$PD" scenario list --json | "$PY" -c 'import json,sys; print(" ".join(sorted(r["name"] for r in json.load(sys.stdin))))')"
[ "$listed " = "$builtins" ] || fail "scenario list gave '$listed', expected '$builtins'"
say "scenario list: $(echo $listed | wc -w) scenarios ($listed)"

# shellcheck disable=SC2086
"$PD" scenario validate $builtins >/dev/null || fail "scenario validate"
say "scenario validate: all $(echo $builtins | wc -w) valid"

"$PD" doctor --json >"$WORK/doctor.json" 2>"$WORK/doctor.err" || true
"$PY" - "$WORK/doctor.json" "$WORK/venv" <<'PY' || { cat "$WORK/doctor.err" >&2; fail "doctor --json (package data)"; }
import json, sys
checks = json.load(open(sys.argv[1]))
data = [c for c in checks if c["name"] == "package data" or c["name"].startswith("data:")]
assert data and all(c["ok"] for c in data), data
assert sys.argv[2] in data[0]["detail"] and "installed package data" in data[0]["detail"], data[0]["detail"]
home = next(c for c in checks if c["name"] == "home")["detail"]
assert "xdg-data/polydemo" in home, home
others = [c for c in checks if not c["ok"]]
print(f"doctor: {data[0]['detail']}; home {home}")
print("doctor: other problems (not package data): " + ("; ".join(f"{c['name']}: {c['detail']}" for c in others) or "none"))
PY

# The packaged copies are the repository's files.
DATA="$("$WORK/venv/bin/python" -c 'import polydemo.resources as r; print(r.root().path)')"
n=0
while IFS= read -r rel; do
  cmp -s "$ROOT/$rel" "$DATA/$rel" || fail "packaged $rel differs from the repository's"
  n=$((n + 1))
done < <("$WORK/venv/bin/python" -c 'from pathlib import Path; import sys; from polydemo._shipped import shipped_files; print("\n".join(shipped_files(Path(sys.argv[1]))))' "$ROOT")
say "package data: $n files identical to the repository's"
# The live view ships inside the wheel (no Node at install): its three files, as in the repository.
WEB="$("$WORK/venv/bin/python" -c 'import polydemo.web.server as s; print(s.STATIC)')"
for f in index.html app.js style.css join.html join.js join.css; do
  cmp -s "$ROOT/polydemo/web/static/$f" "$WEB/$f" || fail "the wheel's polydemo/web/static/$f differs from the repository's (or is missing)"
done
say "web view: index.html, app.js, style.css and the phone page (join.*) in the wheel"

[ "$STACK" = 1 ] || { say "ok"; exit 0; }

# ---------------------------------------------------------------- the whole stack, from the wheel
now() { "$PY" -c 'import time; print(time.time())'; }
secs() { "$PY" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$2"; }
t0=$(now)
"$PD" setup || fail "polydemo setup"
t1=$(now)
"$PD" up || fail "polydemo up"
"$PD" seed || fail "polydemo seed"
"$PD" scenario run tour --speed 100 --no-dashboard || fail "scenario run tour"
t2=$(now)
"$PD" web start || fail "polydemo web start"
WEB_URL="$("$PD" web status --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["url"])')"
"$PY" - "$WEB_URL" "$ROOT/polydemo/web/static" <<'PY' || fail "the web view from the wheel"
import json, pathlib, sys, urllib.request
url, static = sys.argv[1], pathlib.Path(sys.argv[2])
for name, path in (("index.html", "/"), ("app.js", "/static/app.js"), ("style.css", "/static/style.css")):
    body = urllib.request.urlopen(url + path, timeout=10).read()
    assert body == (static / name).read_bytes(), f"{path} differs from the repository's {name}"
import time, urllib.error
for _ in range(100):  # the first snapshot is collected about a second after the start
    try:
        snap = json.load(urllib.request.urlopen(url + "/api/snapshot", timeout=10))
        break
    except urllib.error.HTTPError as exc:
        if exc.code != 503:
            raise
        time.sleep(0.1)
print(f"web view from the wheel: {url} serves the page; its snapshot counts {snap['postgres']['users']} users")
PY
"$PD" status --json >/dev/null 2>&1 || true
"$PD" down || fail "polydemo down"
say "stack from the wheel: setup $(secs "$t0" "$t1")s, up + seed + tour $(secs "$t1" "$t2")s; ok"

# ---------------------------------------------------------------- again, as a laptop's user would
# A new non-root user, /usr/bin/python3 and pipx, no certificate variables (scripts/check-laptop.sh).
if [ "$(id -u)" = 0 ] && [ "${WHEEL_CHECK_LAPTOP:-1}" = 1 ]; then
  bash "$ROOT/scripts/check-laptop.sh" "$WHEEL" || fail "the laptop path (scripts/check-laptop.sh)"
else
  say "the laptop path (a new non-root user, scripts/check-laptop.sh) needs root to make that user: skipped"
fi
