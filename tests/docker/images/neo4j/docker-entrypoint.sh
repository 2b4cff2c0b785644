#!/bin/bash
# polydemo stand-in for the neo4j image's docker-entrypoint.sh (written for polydemo; the contract was read
# from neo4j/docker-neo4j docker-image-src/5/coredb/docker-entrypoint.sh).
# REPRODUCED (what docker-compose.yml relies on):
#   * NEO4J_AUTH: "neo4j/<password>" turns authentication on with that password (user must be neo4j, the
#     password must not be "neo4j"), "none" turns it off, anything else is refused
#   * NEO4J_<setting> variables ("_" -> ".", "__" -> "_"): server.memory.heap.initial_size/max_size become
#     the JVM's -Xms/-Xmx, server.memory.pagecache.size the page cache; Bolt listens on 0.0.0.0:7687
#     (the image's server.default_listen_address); other settings are reported and ignored
#   * the server runs as user neo4j with its data in the /data volume
# NOT REPRODUCED: neo4j.conf and /conf, plugins, the HTTP connector (7474; polydemo does not publish it),
#   set-initial-password semantics (here the password of NEO4J_AUTH applies on every start, while the
#   official image stores it once, when /data is first initialised), the Neo4j launcher's own JVM flags.
set -euo pipefail
cmd="${1:-neo4j}"
if [ "$cmd" != "neo4j" ]; then exec "$@"; fi
if [ "$(id -u)" = 0 ]; then
  chown -R neo4j:neo4j /data /logs
  exec gosu neo4j "$0" "$@"
fi
auth="${NEO4J_AUTH:-}"
if [ "$auth" = "none" ]; then
  unset NEO4J_PASSWORD
elif [[ "$auth" =~ ^([^/]+)/([^/]+)$ ]]; then
  [ "${BASH_REMATCH[1]}" = neo4j ] || { echo >&2 "Invalid admin username, it must be neo4j."; exit 1; }
  [ "${BASH_REMATCH[2]}" != neo4j ] || { echo >&2 "Invalid value for password. It cannot be 'neo4j', which is the default."; exit 1; }
  export NEO4J_PASSWORD="${BASH_REMATCH[2]}"
elif [ -n "$auth" ]; then
  echo >&2 "Invalid value for NEO4J_AUTH"; exit 1
fi
xms=128m xmx=512m pagecache=64m
for var in $(compgen -e | grep '^NEO4J_' | sort); do
  case "$var" in NEO4J_AUTH|NEO4J_HOME|NEO4J_PASSWORD|NEO4J_EDITION|NEO4J_ACCEPT_LICENSE_AGREEMENT) continue ;; esac
  setting=$(printf '%s' "${var#NEO4J_}" | sed -e 's/_/./g' -e 's/\.\./_/g')
  case "$setting" in
    server.memory.heap.initial_size) xms="${!var}" ;;
    server.memory.heap.max_size) xmx="${!var}" ;;
    server.memory.pagecache.size) pagecache="${!var}" ;;
    server.bolt.connection_keep_alive*) ;;  # stack/neo4j's launcher sets the values docker-compose.yml asks
    *) echo "polydemo stand-in: setting $setting is not applied" ;;
  esac
done
exec java "-Xms$xms" "-Xmx$xmx" -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow -XX:+ExitOnOutOfMemoryError \
  -Djdk.nio.maxCachedBufferSize=1024 -Dio.netty.tryReflectionSetAccessible=true -Dlog4j2.disable.jmx=true \
  --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED \
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
  -cp "$NEO4J_HOME/lib/*" dev.polydemo.Neo4jLauncher --home /data --host 0.0.0.0 --port 7687 --pagecache "$pagecache"
