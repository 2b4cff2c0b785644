#!/usr/bin/env bash
# polydemo set-up: installs everything the local stack needs on Debian 12, idempotently.
#   apt: PostgreSQL 15 (+ partman, wal2json), Redis, a JDK 17 and Maven (only what is missing)
#   .venv: polydemo itself, editable, with the dev extras
#   $POLYDEMO_CACHE (default ~/.cache/polydemo):
#     kafka/libs, kafka/plugins   Kafka 4.3.1 + Connect + Debezium 3.7.0 (stack/kafka/pom.xml)
#     neo4j/lib                   Neo4j Community 5.26 embedded + our Bolt launcher (stack/neo4j)
#     secantusdb/venv             the MongoDB-wire server, in its own venv (GPL: never imported)
# Each step is skipped when a stamp of its inputs matches, so a second run takes a few seconds.
# Everything comes from Debian's archive, PyPI or Maven Central; nothing else is downloaded.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${POLYDEMO_CACHE:-$HOME/.cache/polydemo}"
STAMPS="$CACHE/stamps"
PY="${PYTHON:-python3}"
mkdir -p "$STAMPS"

say() { printf '\033[1;36m[setup]\033[0m %s\n' "$*"; }
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
fresh() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ---------------------------------------------------------------- apt
need=()
for pkg in postgresql-15 postgresql-15-partman postgresql-15-wal2json redis-server; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
command -v javac >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
"$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  say "apt-get install ${need[*]}"
  as_root apt-get update -qq
  # Debian's packages would start their own servers where an init system runs; polydemo starts its own.
  as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  say "apt packages: present"
fi

# ---------------------------------------------------------------- polydemo's venv
# (scripts/venv.sh alone is what `make unit` and `make lint` need: no apt, no jars.)
PYTHON="$PY" bash "$ROOT/scripts/venv.sh"

# ---------------------------------------------------------------- Mongo-wire server (own venv)
key=$(stamp_of "$ROOT/stack/mongo/requirements-secantusd.txt")
if [ -x "$CACHE/secantusdb/venv/bin/secantusd-py" ] && fresh secantusdb "$key"; then
  say "SecantusDB: up to date"
else
  say "SecantusDB: $CACHE/secantusdb/venv"
  rm -rf "$CACHE/secantusdb/venv"
  "$PY" -m venv "$CACHE/secantusdb/venv"
  "$CACHE/secantusdb/venv/bin/pip" install -q --upgrade pip
  "$CACHE/secantusdb/venv/bin/pip" install -q -r "$ROOT/stack/mongo/requirements-secantusd.txt"
  echo "$key" > "$STAMPS/secantusdb"
fi

# ---------------------------------------------------------------- Kafka + Connect + Debezium
key=$(stamp_of "$ROOT/stack/kafka/pom.xml")
if ls "$CACHE"/kafka/libs/kafka_2.13-*.jar >/dev/null 2>&1 && fresh kafka "$key"; then
  say "Kafka jars: up to date"
else
  say "Kafka jars: Maven Central -> $CACHE/kafka"
  rm -rf "$CACHE/kafka"
  mvn -B -q -f "$ROOT/stack/kafka/pom.xml" generate-resources \
    -Dkafka.libs.dir="$CACHE/kafka/libs" -Dkafka.plugins.dir="$CACHE/kafka/plugins"
  echo "$key" > "$STAMPS/kafka"
fi

# ---------------------------------------------------------------- Neo4j embedded + launcher
key=$(stamp_of "$ROOT/stack/neo4j/pom.xml" "$ROOT"/stack/neo4j/src/main/java/dev/polydemo/*.java)
if [ -f "$CACHE/neo4j/lib/polydemo-neo4j.jar" ] && fresh neo4j "$key"; then
  say "Neo4j jars: up to date"
else
  say "Neo4j jars + launcher: Maven Central -> $CACHE/neo4j"
  rm -rf "$CACHE/neo4j"
  mvn -B -q -f "$ROOT/stack/neo4j/pom.xml" package -Dpolydemo.libdir="$CACHE/neo4j/lib" \
    -Dpolydemo.jardir="$CACHE/neo4j/lib" -Dpolydemo.builddir="$CACHE/neo4j/build"
  echo "$key" > "$STAMPS/neo4j"
fi

say "done: $("$ROOT/.venv/bin/polydemo" --version)"
