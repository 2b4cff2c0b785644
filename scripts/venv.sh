#!/usr/bin/env bash
# polydemo's Python venv only: .venv with the locked dependencies (requirements.lock: exact versions,
# sha256-verified with --require-hashes, the dev tools pytest, ruff and mypy included), then polydemo
# itself, editable, with no further downloads. Needs nothing but python3 with venv: no apt, no jars.
# `make unit` and `make lint` use it; scripts/setup.sh calls it first. Skipped when the venv's stamp of
# its inputs matches (the stamp lives in the venv: worktrees sharing a cache keep their own).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
say() { printf '\033[1;36m[venv]\033[0m %s\n' "$*"; }

key=$(cat "$ROOT/pyproject.toml" "$ROOT/requirements.lock" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)
if [ -x "$ROOT/.venv/bin/polydemo" ] && [ -f "$ROOT/.venv/.polydemo-stamp" ] && [ "$(cat "$ROOT/.venv/.polydemo-stamp")" = "$key" ]; then
  say "python venv: up to date"
  exit 0
fi
say "python venv: .venv from requirements.lock (hashes checked), polydemo editable"
rm -rf "$ROOT/.venv"
"$PY" -m venv "$ROOT/.venv"
"$ROOT/.venv/bin/pip" install -q --disable-pip-version-check --require-hashes -r "$ROOT/requirements.lock"
"$ROOT/.venv/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$ROOT"
echo "$key" > "$ROOT/.venv/.polydemo-stamp"
