#!/usr/bin/env bash
# polydemo docker harness: a real Docker engine on this Debian 12 machine, with stand-in images.
#
#   bash scripts/docker-harness.sh test     engine + compose + images, then pytest -m docker; cleans up
#   bash scripts/docker-harness.sh prepare  engine + compose + images, leaves dockerd running (prints env)
#   bash scripts/docker-harness.sh start    (re)starts only that dockerd
#   bash scripts/docker-harness.sh stop     removes the tests' containers, stops that dockerd (by its pid file)
#   bash scripts/docker-harness.sh env      the variables that point polydemo at that engine
#
# WHAT IT PROVES AND WHAT IT DOES NOT (also in docs/docker.md, "Proven on a real engine"):
#   * Real: Debian's dockerd 20.10.24 (containerd, runc), Docker Compose v5.6.0 built from the Go
#     module proxy, the Docker SDK, docker-compose.yml itself (service names, ports, environment,
#     command lines, volumes, healthchecks, depends_on), polydemo's docker runtime end to end.
#   * Not real: the images. No registry is reachable here, so tests/docker/compose.standins.yml
#     swaps each official `image:` for a stand-in built from Debian packages and the jars that
#     scripts/setup.sh downloads (tests/docker/images/*). Each stand-in's entrypoint reproduces the
#     part of the official image's contract that docker-compose.yml relies on (see the header of
#     each stand-in's entrypoint: tests/docker/images/*/{entrypoint.sh,docker-entrypoint.sh},
#     kafka/run); the rest of those images is only read from their sources, never run. The Mongo stand-in runs SecantusDB (the same Mongo-wire server as the
#     local runtime), not MongoDB; the timeseries stand-in is PostgreSQL 15 (native partitions), not
#     TimescaleDB (as the local runtime).
#
# Everything lands in $POLYDEMO_CACHE/docker (default ~/.cache/polydemo/docker): the Go caches and
# the compose binary, dockerd's data root (so built images survive), the debootstrap rootfs tarball.
# Each step is skipped when a stamp of its inputs matches, so a second run takes seconds.
# dockerd is started with its own data-root, exec-root and socket, by pid, and stopped by that pid
# (also on failure, from the EXIT trap). Must run as root (dockerd, debootstrap).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${POLYDEMO_CACHE:-$HOME/.cache/polydemo}"
DC="$CACHE/docker"
STAMPS="$DC/stamps"
ENGINE="$DC/engine"
SOCK="$ENGINE/docker.sock"
PIDFILE="$ENGINE/dockerd.pid"
IMAGES_DIR="$ROOT/tests/docker/images"
OVERRIDE="$ROOT/tests/docker/compose.standins.yml"

# ---- exact pins (why: what was measured to work on this kind of machine, 2026-12-01). The Debian
# packages inside the images are pinned in each Dockerfile (ARG ..._VERSION); mongosh and kafka-tools below.
# Debian 12 archive versions; apt refuses a pin the archive no longer has, and says so.
DOCKER_IO_VERSION="20.10.24+dfsg1-1+deb12u1+b6"     # Debian's engine (dockerd, containerd, runc)
DEBOOTSTRAP_VERSION="1.0.128+nmu2+deb12u2"          # builds the base image without a registry
# v5.7.0 needs a newer Go than go1.26.8; v5.6.0 is the newest that builds here.
COMPOSE_VERSION="v5.6.0"
DEBIAN_SUITE="bookworm"

say() { printf '\033[1;35m[docker-harness]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[docker-harness] cannot continue:\033[0m %s\n' "$*" >&2; exit 2; }
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
fresh() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
now() { date +%s.%N; }
since() { python3 -c "import sys;print(f'{float(sys.argv[2])-float(sys.argv[1]):.1f}s')" "$1" "$(now)"; }
mkdir -p "$STAMPS" "$ENGINE"

export DOCKER_HOST="unix://$SOCK"
# The legacy builder: dockerd 20.10 and no buildx plugin here. It is what `docker build` falls back to anyway.
export DOCKER_BUILDKIT=0

# ------------------------------------------------------------------ 1. engine + compose
install_engine() {
  [ "$(id -u)" = 0 ] || die "run as root: dockerd and debootstrap need it (CI runs as root)"
  local need=()
  [ "$(dpkg-query -W -f='${Version}' docker.io 2>/dev/null || true)" = "$DOCKER_IO_VERSION" ] \
    || need+=("docker.io=$DOCKER_IO_VERSION")
  [ "$(dpkg-query -W -f='${Version}' debootstrap 2>/dev/null || true)" = "$DEBOOTSTRAP_VERSION" ] \
    || need+=("debootstrap=$DEBOOTSTRAP_VERSION")
  if [ ${#need[@]} -gt 0 ]; then
    say "apt-get install ${need[*]}"
    apt-get update -qq
    # RUNLEVEL=1: Debian's maintainer scripts must not start a system dockerd; this harness starts its own.
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
      || die "apt-get could not install ${need[*]} (pinned; see the pins at the top of $0)"
  else
    say "engine packages: present (docker.io $DOCKER_IO_VERSION, debootstrap $DEBOOTSTRAP_VERSION)"
  fi
  command -v docker >/dev/null 2>&1 \
    || die "no docker CLI on the PATH (this kind of machine has docker 28.x in /usr/local/bin; Debian's docker.io provides one too)"
}

# Compose v5.6.0's go.mod says go 1.26.8; Debian 12's golang-go (1.19) cannot build it.
GO_MIN="1.26.8"
find_go() {
  local go; go=$(command -v go || echo /usr/local/go/bin/go)
  [ -x "$go" ] || die "no Go toolchain (need go >= $GO_MIN for compose $COMPOSE_VERSION; this kind of machine has it in /usr/local/go)"
  local v; v=$("$go" env GOVERSION 2>/dev/null | sed 's/^go//')
  [ "$(printf '%s\n%s\n' "$GO_MIN" "$v" | sort -V | head -1)" = "$GO_MIN" ] \
    || die "go $v is too old to build compose $COMPOSE_VERSION (needs go >= $GO_MIN)"
  export PATH="$(dirname "$go"):$PATH"
}

install_compose() {
  find_go
  local plugin="$HOME/.docker/cli-plugins/docker-compose" bin="$DC/compose/$COMPOSE_VERSION/docker-compose"
  local key="$COMPOSE_VERSION $(go version 2>/dev/null)"
  if [ -x "$bin" ] && fresh compose "$key"; then
    say "compose $COMPOSE_VERSION: cached"
  else
    say "compose $COMPOSE_VERSION: building from the Go module proxy (about 80 s on 2 cores)"
    local t0; t0=$(now)
    export GOSUMDB=off GOFLAGS=-mod=mod GOTOOLCHAIN=local
    export GOMODCACHE="$DC/go/mod" GOCACHE="$DC/go/build" GOPATH="$DC/go/path"
    local dir src
    dir=$(go mod download -json "github.com/docker/compose/v5@$COMPOSE_VERSION" \
          | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])') \
      || die "go could not download github.com/docker/compose/v5@$COMPOSE_VERSION from the module proxy"
    src=$(mktemp -d)
    cp -r "$dir"/. "$src" && chmod -R u+w "$src"
    (cd "$src" && go build -trimpath -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" \
        -o docker-compose ./cmd) || { rm -rf "$src"; die "go build of docker compose $COMPOSE_VERSION failed"; }
    install -D "$src/docker-compose" "$bin"
    rm -rf "$src"
    echo "$key" > "$STAMPS/compose"
    say "compose built in $(since "$t0")"
  fi
  if ! cmp -s "$bin" "$plugin" 2>/dev/null; then install -D "$bin" "$plugin"; fi
  docker compose version >/dev/null 2>&1 || die "docker compose version fails after installing $plugin"
}

# ------------------------------------------------------------------ 2. dockerd (own root, socket, pid)
engine_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start_engine() {
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && engine_up; then
    say "dockerd already running (pid $(cat "$PIDFILE"), $DOCKER_HOST)"
    return
  fi
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    # Ours, but not answering: still shutting down (or hung). Let it finish, then start afresh.
    local old; old=$(cat "$PIDFILE")
    say "dockerd $old is alive but does not answer: waiting for it to exit"
    for _ in $(seq 1 60); do kill -0 "$old" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$old" 2>/dev/null && { kill -KILL "$old" 2>/dev/null || true; sleep 1; }
  fi
  rm -f "$PIDFILE" "$SOCK"
  say "starting dockerd ($DOCKER_HOST, data root $ENGINE/data)"
  local t0; t0=$(now)
  # --iptables=false: this sandbox has no usable iptables; published ports still work (docker-proxy).
  # nofile 20000: the sandbox refuses a higher RLIMIT_NOFILE, and dockerd's default makes runc fail.
  # setsid: its own session, so a Ctrl-C of the caller reaches it only through stop_engine.
  setsid dockerd --iptables=false --default-ulimit nofile=20000:20000 \
    --data-root "$ENGINE/data" --exec-root "$ENGINE/exec" --pidfile "$ENGINE/dockerd.own.pid" \
    -H "$DOCKER_HOST" >"$ENGINE/dockerd.log" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 120); do
    engine_up && { say "dockerd $(docker version --format '{{.Server.Version}}') up in $(since "$t0") (pid $(cat "$PIDFILE"))"; return; }
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
    sleep 0.5
  done
  tail -20 "$ENGINE/dockerd.log" | cut -c1-300 >&2 || true
  stop_engine
  die "dockerd did not start (log: $ENGINE/dockerd.log)"
}

# Containers of the polydemo projects this harness ran, then dockerd itself, by its pid.
stop_engine() {
  [ -f "$PIDFILE" ] || return 0
  local pid; pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null; then
    if engine_up; then
      local ids; ids=$(docker ps -aq --filter label=com.docker.compose.project 2>/dev/null || true)
      [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1 || true
      docker network prune -f >/dev/null 2>&1 || true
    fi
    say "stopping dockerd (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then say "dockerd $pid did not stop in 30 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$PIDFILE"
  unmount_leftovers
}

# dockerd bind-mounts its data root onto itself and keeps exec-root/netns/default mounted, and leaves both
# behind when it exits: unmount what is under our engine directory (deepest first), nothing else.
unmount_leftovers() {
  local m
  for m in $(awk -v root="$ENGINE/" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

# ------------------------------------------------------------------ 3. images
# The base: Debian bookworm from the machine's own apt mirror (no registry needed).
base_image() {
  local tag="localhost/polydemo-base:$DEBIAN_SUITE" tarball="$DC/rootfs-$DEBIAN_SUITE.tar"
  local mirror; mirror=$(apt_mirror)
  local key="$DEBOOTSTRAP_VERSION $DEBIAN_SUITE $mirror $(stamp_of /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
  if docker image inspect "$tag" >/dev/null 2>&1 && fresh base "$key"; then
    say "base image $tag: cached"; return
  fi
  if [ ! -s "$tarball" ] || ! fresh rootfs "$key"; then
    say "debootstrap --variant=minbase $DEBIAN_SUITE from $mirror (about 45 s)"
    local t0 rootfs; t0=$(now); rootfs=$(mktemp -d "$DC/rootfs.XXXX")
    debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs" "$mirror" >"$DC/debootstrap.log" 2>&1 \
      || { tail -5 "$DC/debootstrap.log" >&2; rm -rf "$rootfs"; die "debootstrap failed (log: $DC/debootstrap.log)"; }
    # The machine's apt sources (and only those), so images install from the same mirror.
    rm -f "$rootfs"/etc/apt/sources.list; rm -rf "$rootfs"/etc/apt/sources.list.d/*
    cp /etc/apt/sources.list.d/*.sources "$rootfs"/etc/apt/sources.list.d/ 2>/dev/null || true
    [ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$rootfs"/etc/apt/sources.list || true
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$tarball" .
    rm -rf "$rootfs"
    echo "$key" > "$STAMPS/rootfs"
    say "rootfs in $(since "$t0")"
  fi
  docker import --change 'CMD ["/bin/bash"]' "$tarball" "$tag" >/dev/null
  echo "$key" > "$STAMPS/base"
  say "base image $tag imported"
}

apt_mirror() {
  local uri
  uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

# Pins of what the stand-ins add on top of scripts/setup.sh's downloads (why: measured to work here).
KAFKA_TOOLS_VERSION="4.3.1"        # = KAFKA_VERSION (runtime/services.py): BrokerApiVersionsCommand for the healthcheck
MVN_DEPENDENCY_PLUGIN="3.8.1"
MONGOSH_VERSION="2.8.2"            # the real mongosh for the Mongo healthcheck; pure JS, runs on Debian's Node 18

# One image: skipped when the stamp of its build context (and of its parent) is unchanged.
# build_image NAME TAG CONTEXT_DIR PARENT_STAMP (base or image-jre: a rebuilt parent rebuilds the child)
build_image() {
  local name="$1" tag="$2" ctx="$3" parent="$4" key
  key=$( (cd "$ctx" && find . -type f -printf '%P %s\n' | sort; find . -maxdepth 1 -type f -exec cat {} + ;
          cat "$STAMPS/$parent" 2>/dev/null || true) | sha256sum | cut -d' ' -f1)
  if docker image inspect "$tag" >/dev/null 2>&1 && fresh "image-$name" "$key"; then
    say "image $tag: cached"; return
  fi
  local t0; t0=$(now)
  say "image $tag: building"
  # --network host: with iptables off, the default bridge cannot reach the apt mirror or PyPI.
  if ! docker build -q --network host --label "polydemo.standin=$name" -t "$tag" "$ctx" >"$DC/build-$name.log" 2>&1; then
    tail -15 "$DC/build-$name.log" >&2
    die "the $name stand-in image failed to build (log: $DC/build-$name.log)"
  fi
  echo "$key" > "$STAMPS/image-$name"
  say "image $tag built in $(since "$t0")"
  BUILT+=("$name")
}

# A build context: this repo's image directory plus hard links to the cached jars (no copy).
stage() {
  local name="$1"; shift
  local ctx="$DC/ctx/$name"
  rm -rf "$ctx"; mkdir -p "$ctx"
  cp -a "$IMAGES_DIR/$name"/. "$ctx"/
  while [ $# -gt 0 ]; do cp -al "$1" "$ctx/$2"; shift 2; done
  cp "$BUILD_CA" "$ctx/build-ca.crt"
  echo "$ctx"
}

kafka_tools_jar() {
  local dir="$DC/kafka-tools-$KAFKA_TOOLS_VERSION"
  if [ ! -f "$dir/kafka-tools-$KAFKA_TOOLS_VERSION.jar" ]; then
    say "kafka-tools $KAFKA_TOOLS_VERSION: Maven Central"
    mvn -B -q "org.apache.maven.plugins:maven-dependency-plugin:$MVN_DEPENDENCY_PLUGIN:copy" \
      -Dartifact="org.apache.kafka:kafka-tools:$KAFKA_TOOLS_VERSION" -DoutputDirectory="$dir" >&2 \
      || die "maven could not fetch org.apache.kafka:kafka-tools:$KAFKA_TOOLS_VERSION"
  fi
  echo "$dir"
}

mongosh_tree() {
  local dir="$DC/mongosh-$MONGOSH_VERSION"
  if [ ! -f "$dir/node_modules/mongosh/package.json" ]; then
    command -v npm >/dev/null 2>&1 || die "npm is needed to fetch mongosh $MONGOSH_VERSION (apt-get install npm)"
    say "mongosh $MONGOSH_VERSION: npm"
    rm -rf "$dir"; mkdir -p "$dir"
    npm install --no-audit --no-fund --omit=optional --prefix "$dir" "mongosh@$MONGOSH_VERSION" >"$DC/npm-mongosh.log" 2>&1 \
      || { rm -rf "$dir"; die "npm could not install mongosh@$MONGOSH_VERSION (log: $DC/npm-mongosh.log)"; }
  fi
  echo "$dir"
}

# The CA bundle pip uses inside image builds: this machine's (PIP_CERT or Debian's bundle).
BUILD_CA="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}"

build_images() {
  BUILT=()
  [ -s "$BUILD_CA" ] || die "no CA bundle at $BUILD_CA for pip inside the image builds (apt-get install ca-certificates)"
  local libs="$CACHE/kafka/libs" plugins="$CACHE/kafka/plugins" neo="$CACHE/neo4j/lib"
  [ -d "$libs" ] && [ -d "$plugins" ] && [ -f "$neo/polydemo-neo4j.jar" ] \
    || die "the jars of scripts/setup.sh are missing in $CACHE (run \`make setup\` first)"
  local t0; t0=$(now)
  base_image
  build_image jre localhost/polydemo-jre:17 "$IMAGES_DIR/jre" base
  build_image postgres localhost/polydemo-standin-postgres:15 "$IMAGES_DIR/postgres" base
  build_image redis localhost/polydemo-standin-redis:7.0 "$IMAGES_DIR/redis" base
  local tools; tools=$(kafka_tools_jar)
  local kctx; kctx=$(stage kafka "$libs" libs)
  cp -al "$tools/kafka-tools-$KAFKA_TOOLS_VERSION.jar" "$kctx/libs/"
  build_image kafka localhost/polydemo-standin-kafka:4.3.1 "$kctx" image-jre
  build_image connect localhost/polydemo-standin-connect:3.7.0.Final "$(stage connect "$libs" libs "$plugins" plugins)" image-jre
  build_image neo4j localhost/polydemo-standin-neo4j:5.26.30 "$(stage neo4j "$neo" lib)" image-jre
  local msh; msh=$(mongosh_tree)
  local node; node=$(command -v node || true)
  [ -n "$node" ] && [ "$("$node" -p 'process.versions.node.split(".")[0]')" -ge 20 ] \
    || die "the mongo stand-in needs Node.js >= 20 on this machine (for mongosh's npm tree)"
  build_image mongo localhost/polydemo-standin-mongo:secantusdb-0.7.0b3 "$(stage mongo \
    "$ROOT/stack/mongo/requirements-secantusd.txt" requirements-secantusd.txt \
    "$ROOT/stack/mongo/secantusd.toml" secantusd.toml "$msh" mongosh "$(readlink -f "$node")" node)" base
  say "images ready in $(since "$t0") (built: ${BUILT[*]:-none})"
}

# ------------------------------------------------------------------ 4. the docker tests
TIMINGS="$DC/timings.txt"
record() { printf '%s %s\n' "$1" "$2" >> "$TIMINGS"; say "$1: $2"; }

# What points polydemo (and its tests) at this engine and the stand-ins.
print_env() {
  echo "export DOCKER_HOST=$DOCKER_HOST"
  echo "export POLYDEMO_COMPOSE_OVERRIDE=$OVERRIDE"
  echo "export POLYDEMO_DOCKER_HARNESS=$DC"
}

# Remove what the tests' compose project left (containers, network; volumes too: the next run starts
# from empty volumes, so first-start initialisation is tested every time), then stop dockerd.
cleanup() {
  local rc=$?
  if [ -f "$PIDFILE" ] && engine_up; then
    # twice: with the cluster file and profile (kafka-2/kafka-3, the kafka_cluster_* volumes), then without
    # it (with it, kafka uses kafka_cluster_1 and Compose would leave kafka_data behind)
    docker compose -f "$ROOT/docker-compose.yml" -f "$ROOT/docker-compose.cluster.yml" -f "$OVERRIDE" \
      --profile cluster -p polydemo down -v --timeout 5 >/dev/null 2>&1 || true
    docker compose -f "$ROOT/docker-compose.yml" -f "$OVERRIDE" -p polydemo down -v --timeout 5 >/dev/null 2>&1 || true
  fi
  stop_engine
  exit $rc
}

prepare() {
  local t0 t1
  : > "$TIMINGS"
  t0=$(now); install_engine; install_compose; record "engine+compose set-up" "$(since "$t0")"
  t1=$(now); start_engine; record "dockerd start" "$(since "$t1")"
  t1=$(now); build_images; record "images" "$(since "$t1")"
}

run_tests() {
  local py="$ROOT/.venv/bin/python"
  [ -x "$py" ] || die "no .venv: run \`make setup\` first"
  eval "$(print_env)"
  export POLYDEMO_DOCKER_TIMINGS="$TIMINGS"
  local t0; t0=$(now)
  local rc=0
  "$py" -m pytest -v -m docker "$ROOT/tests/docker" "$@" || rc=$?
  record "docker tests" "$(since "$t0")"
  say "timings: $(tr '\n' ';' < "$TIMINGS")"
  return $rc
}

main() {
  local cmd="${1:-test}"; shift || true
  case "$cmd" in
    test)    trap cleanup EXIT INT TERM; prepare; run_tests "$@" ;;
    prepare) prepare; print_env ;;
    start)   start_engine ;;                # (the engine-stopped-during-up test restarts it with this)
    stop)    cleanup ;;
    env)     print_env ;;
    *) die "usage: $0 [test [pytest args]|prepare|start|stop|env]" ;;
  esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
