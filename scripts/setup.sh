#!/usr/bin/env bash
# polydemo set-up for a checkout (what `make setup`, `make demo` and `make test` run), idempotently:
#   1. python3-venv from apt if this Python cannot make a venv (the one thing needed before polydemo runs);
#   2. .venv: polydemo's dependencies from requirements.lock (exact, sha256-verified: --require-hashes),
#      then polydemo itself, editable, with no further downloads;
#   3. `polydemo setup`, which installs everything else (apt packages, the jars from Maven Central, the
#      Mongo-wire server venv) under $POLYDEMO_CACHE (default ~/.cache/polydemo). See polydemo/provision.py.
# A step is skipped when the stamp of its inputs matches, so a second run takes a few seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"

say() { printf '\033[1;36m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  say "apt-get install python3-venv"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi

# .venv alone is what `make unit` and `make lint` need (no apt, no jars): scripts/venv.sh.
PYTHON="$PY" bash "$ROOT/scripts/venv.sh"

"$ROOT/.venv/bin/polydemo" setup
say "done: $("$ROOT/.venv/bin/polydemo" --version)"
