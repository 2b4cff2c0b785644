#!/usr/bin/env bash
# The browser the live view's tests drive (tests/integration/test_web_view.py): Debian's chromium and
# chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver), from apt, idempotently: nothing is installed when
# both are there already. Selenium itself comes pinned in the venv (requirements.lock); with SE_OFFLINE=true it
# never downloads a driver of its own. Needs root or sudo only when something is missing.
set -euo pipefail

say() { printf '\033[1;36m[browser]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

CHROMIUM=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
[ -x "$DRIVER" ] || missing+=(chromium-driver)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then
    say "missing: ${missing[*]}; run as root (or install sudo): apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  say "apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "chromium and chromium-driver: already installed"
fi

# Their versions (chromium's wrapper script prints a shell warning on some hosts: only its last line is kept).
say "$("$CHROMIUM" --version 2>/dev/null | tail -n 1)"
say "$("$DRIVER" --version 2>/dev/null | tail -n 1)"
