#!/usr/bin/env bash
# polydemo's Python venv only: .venv with polydemo (editable) and the dev extras (pytest, ruff, mypy).
# Needs nothing but python3 with venv: no apt, no jars. `make unit` and `make lint` use it;
# scripts/setup.sh calls it too. Skipped when the venv's stamp of pyproject.toml matches.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
STAMP="$ROOT/.venv/.polydemo-pyproject"  # in the venv itself: worktrees sharing a cache keep their own

key=$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)
if [ -x "$ROOT/.venv/bin/polydemo" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$key" ]; then
  printf '\033[1;36m[venv]\033[0m python venv: up to date\n'
  exit 0
fi
printf '\033[1;36m[venv]\033[0m python venv: .venv (pip install -e .[dev])\n'
"$PY" -m venv "$ROOT/.venv"
"$ROOT/.venv/bin/pip" install -q --upgrade pip
"$ROOT/.venv/bin/pip" install -q -e "$ROOT[dev]"
echo "$key" > "$STAMP"
