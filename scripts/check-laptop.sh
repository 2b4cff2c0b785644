#!/usr/bin/env bash
# The path people take on a laptop, proved (issue 24): a freshly created NON-ROOT user, the distribution's own
# /usr/bin/python3 and pipx (what `apt install pipx` gives), none of CI's certificate variables, an empty
# directory. As that user:
#   pipx install WHEEL · polydemo --version · setup · up · seed · scenario run tour --speed 100 · status ·
#   web start (its page and snapshot) · down
# and then checks that everything polydemo wrote is under that user's own home (data, cache, ~/.m2) and that
# nothing needed root (the system packages are already installed: `make test` put them there as root; were one
# missing, `setup` would name the apt command and fail, which this check would show).
#
#   usage (as root): scripts/check-laptop.sh WHEEL        called by scripts/check-wheel.sh --stack
# Env: LAPTOP_USER (default polydemo-laptop; deleted and made anew each run), LAPTOP_PORT_OFFSET (26000),
#      KEEP_LAPTOP_USER=1 keeps the user and its home for a look afterwards.
set -euo pipefail

WHEEL="${1:?usage: check-laptop.sh WHEEL}"
USER_NAME="${LAPTOP_USER:-polydemo-laptop}"
OFFSET="${LAPTOP_PORT_OFFSET:-26000}"
SYS_PY=/usr/bin/python3
say() { printf '\033[1;33m[laptop]\033[0m %s\n' "$*"; }
fail() { printf '\033[1;31m[laptop] FAILED:\033[0m %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root: it creates the user $USER_NAME (a laptop's user is made, not borrowed)"
[ -x "$SYS_PY" ] || fail "no $SYS_PY (the distribution's Python)"
if ! command -v pipx >/dev/null 2>&1 || [ "$(readlink -f "$(command -v pipx)")" != /usr/bin/pipx ]; then
  say "apt-get install pipx (the distribution's, on $SYS_PY)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pipx >/dev/null
fi

# A fresh user each run: nothing left from an earlier one (home, caches, Maven repository).
stop_user() {
  # Only the processes of the user this script made, each by its pid (polydemo down stops its own first).
  local pids
  pids="$(ps -o pid= -u "$USER_NAME" 2>/dev/null | tr -s ' \n' ' ' || true)"
  # shellcheck disable=SC2086
  [ -z "${pids// /}" ] || kill -KILL $pids 2>/dev/null || true
}
if id "$USER_NAME" >/dev/null 2>&1; then stop_user; userdel -r "$USER_NAME" >/dev/null 2>&1 || true; fi
useradd -m -s /bin/bash "$USER_NAME"
HOME_DIR="$(getent passwd "$USER_NAME" | cut -d: -f6)"
SHARE="$(mktemp -d /tmp/polydemo-laptop-XXXXXX)"
chmod 755 "$SHARE"
cp "$WHEEL" "$SHARE/"
W="$SHARE/$(basename "$WHEEL")"
chmod 644 "$W"
cleanup() {
  if [ "${KEEP_LAPTOP_USER:-0}" != 1 ]; then
    as_user 'cd ~/empty 2>/dev/null && ~/.local/bin/polydemo down >/dev/null 2>&1' || true
    stop_user
    userdel -r "$USER_NAME" >/dev/null 2>&1 || true
  fi
  rm -rf "$SHARE"
}
trap cleanup EXIT

# The user's environment, as a login would give it: no pyenv on PATH, no certificate variables, no POLYDEMO_*
# but the port offset (clear of the suites' 20000/21000/25000/30000).
as_user() {
  runuser -u "$USER_NAME" -- env -i HOME="$HOME_DIR" USER="$USER_NAME" LOGNAME="$USER_NAME" SHELL=/bin/bash \
    PATH="$HOME_DIR/.local/bin:/usr/bin:/bin" LANG=C.UTF-8 TERM=dumb NO_COLOR=1 \
    POLYDEMO_PORT_OFFSET="$OFFSET" bash -c "$1"
}

now() { "$SYS_PY" -c 'import time; print(time.time())'; }
secs() { "$SYS_PY" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$2"; }

say "user $USER_NAME (uid $(id -u "$USER_NAME")), $($SYS_PY -V), pipx $(pipx --version), no certificate variables"
as_user 'env | grep -E "^(SSL_CERT|REQUESTS_CA|CURL_CA|PIP_CERT)" && exit 1 || true' || fail "certificate variables leaked in"
t0=$(now)
as_user "pipx install --python $SYS_PY '$W'" || fail "pipx install $(basename "$W")"
t1=$(now)
as_user 'mkdir -p ~/empty && cd ~/empty && polydemo --version && head -1 "$(command -v polydemo)"' \
  || fail "polydemo --version"
as_user 'cd ~/empty && polydemo setup' || fail "polydemo setup (as $USER_NAME)"
t2=$(now)
as_user 'cd ~/empty && polydemo up' || fail "polydemo up (as $USER_NAME)"
t3=$(now)
as_user 'cd ~/empty && polydemo seed' || fail "polydemo seed (as $USER_NAME)"
as_user 'cd ~/empty && polydemo scenario run tour --speed 100 --no-dashboard' || fail "scenario run tour (as $USER_NAME)"
t4=$(now)
as_user 'cd ~/empty && polydemo status' || fail "polydemo status (as $USER_NAME): not every service healthy"
# The web view, as that user: started, its page and its snapshot answered on 127.0.0.1; `down` stops it below.
as_user 'cd ~/empty && polydemo web start && url=$(polydemo web status --json | python3 -c "import json,sys; print(json.load(sys.stdin)[\"url\"])") && python3 -c "
import sys, time, urllib.request, urllib.error
url = sys.argv[1]
assert b\"polydemo\" in urllib.request.urlopen(url + \"/\", timeout=10).read()
for _ in range(100):
    try:
        urllib.request.urlopen(url + \"/api/snapshot\", timeout=10); break
    except urllib.error.HTTPError:
        time.sleep(0.1)
print(\"web view as a plain user: \" + url)
" "$url"' || fail "polydemo web start (as $USER_NAME)"
as_user 'cd ~/empty && polydemo status --json' >"$SHARE/status.json" || true
t5=$(now)
as_user 'cd ~/empty && polydemo down' || fail "polydemo down (as $USER_NAME)"
t6=$(now)

# Everything it wrote is the user's own, under the user's home.
as_user 'cd ~/empty && polydemo doctor --json' >"$SHARE/doctor.json" 2>/dev/null || true
"$SYS_PY" - "$SHARE/doctor.json" "$HOME_DIR" <<'PY' || fail "the home or cache is not under the user's own directories"
import json, sys
checks = {c["name"]: c for c in json.load(open(sys.argv[1]))}
home = checks["home"]["detail"]
assert home.startswith(sys.argv[2] + "/.local/share/polydemo"), home
print(f"home: {home}")
PY
for d in .local/share/polydemo .cache/polydemo .m2/repository; do
  [ -d "$HOME_DIR/$d" ] || fail "no $HOME_DIR/$d"
done
foreign="$(find "$HOME_DIR" ! -user "$USER_NAME" -print -quit)"
[ -z "$foreign" ] || fail "a file in the user's home is not the user's: $foreign"
left="$(ps -o pid=,comm= -u "$USER_NAME" || true)"
[ -z "$left" ] || fail "processes left after down: $left"
say "sizes: cache $(du -sh "$HOME_DIR/.cache/polydemo" | cut -f1), data $(du -sh "$HOME_DIR/.local/share/polydemo" | cut -f1), ~/.m2 $(du -sh "$HOME_DIR/.m2" | cut -f1)"
say "as $USER_NAME on $($SYS_PY -V): pipx install $(secs "$t0" "$t1")s, setup $(secs "$t1" "$t2")s, up $(secs "$t2" "$t3")s, seed + tour $(secs "$t3" "$t4")s, status $(secs "$t4" "$t5")s, down $(secs "$t5" "$t6")s; ok"
