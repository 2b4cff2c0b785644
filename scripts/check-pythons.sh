#!/usr/bin/env bash
# The unit suite on every supported CPython this machine has (pyproject.toml's classifiers: 3.11, 3.12, 3.13):
# the distribution's /usr/bin/python3 (Debian 12: 3.11.2, without tarfile's filter=), and the newest 3.11, 3.12
# and 3.13 pyenv has. Each gets a throw-away venv from requirements.lock (--require-hashes: the same pins on
# every version), polydemo installed from the checkout, and `pytest -m "not integration"`.
# The integration suite runs on the checkout's own Python (make test) and, from the wheel, on /usr/bin/python3
# as a plain user (scripts/check-laptop.sh). Usage: scripts/check-pythons.sh [PYTHON…]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '\033[1;34m[pythons]\033[0m %s\n' "$*"; }
fail() { printf '\033[1;31m[pythons] FAILED:\033[0m %s\n' "$*" >&2; exit 1; }

newest() {  # the newest pyenv-installed CPython of a minor version, if any
  local root="${PYENV_ROOT:-$HOME/.pyenv}"
  ls -d "$root"/versions/"$1".* 2>/dev/null | sort -V | tail -1 | sed 's|$|/bin/python|'
}
if [ $# -gt 0 ]; then
  pythons=("$@")
else
  pythons=(/usr/bin/python3)
  for v in 3.11 3.12 3.13; do p="$(newest "$v")"; [ -n "$p" ] && [ -x "$p" ] && pythons+=("$p"); done
fi

WORK="$(mktemp -d /tmp/polydemo-pythons-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
summary=()
for py in "${pythons[@]}"; do
  [ -x "$py" ] || fail "$py is not an executable Python"
  ver="$("$py" -c 'import platform; print(platform.python_version())')"
  if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    fail "$py ($ver) cannot make a venv: apt-get install -y python3-venv"
  fi
  say "CPython $ver ($py)"
  venv="$WORK/$ver"
  t0=$(date +%s)
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --require-hashes -r "$ROOT/requirements.lock" \
    || fail "requirements.lock does not install on CPython $ver"
  # The checkout's source on that Python (`python -m pytest` from the checkout puts it on sys.path; no
  # install, so no build/ or *.egg-info is left in the tree).
  out="$(cd "$ROOT" && "$venv/bin/python" -m pytest -q -p no:cacheprovider -m "not integration" tests/unit 2>&1 | tail -3)" \
    || { echo "$out"; fail "the unit tests on CPython $ver"; }
  line="$(echo "$out" | grep -E 'passed|failed' | tail -1)"
  summary+=("CPython $ver: $line ($(( $(date +%s) - t0 )) s with the venv)")
  say "${summary[-1]}"
done
say "all: $(printf '%s; ' "${summary[@]}")"
