#!/bin/bash
# polydemo stand-in for the mongo image's docker-entrypoint.sh (written for polydemo; the contract was read
# from docker-library/mongo docker-entrypoint.sh). It starts SecantusDB, NOT mongod.
# REPRODUCED (what docker-compose.yml relies on):
#   * a first argument starting with "-" means `mongod <args>`; mongod runs as user mongodb, data in /data/db
#   * the mongod flags the compose file passes, translated: --bind_ip_all (-> 0.0.0.0), --bind_ip, --port,
#     --dbpath, --wiredTigerCacheSizeGB (-> --cache-size in MB); --replSet NAME is accepted: SecantusDB is
#     always a one-node replica set (named "secantus"), so rs.status() already answers and the
#     healthcheck's rs.initiate() branch is never taken (SecantusDB has no replSetInitiate)
# NOT REPRODUCED: MONGO_INITDB_* users and /docker-entrypoint-initdb.d, auth, TLS, config files, any other
#   mongod flag (refused with a message, so a new flag in docker-compose.yml is noticed).
set -euo pipefail
if [ "${1:0:1}" = '-' ]; then set -- mongod "$@"; fi
if [ "$1" != mongod ]; then exec "$@"; fi
if [ "$(id -u)" = 0 ]; then
  chown -R mongodb:mongodb /data/db /data/configdb
  exec gosu mongodb "$0" "$@"
fi
shift
host=127.0.0.1 port=27017 dbpath=/data/db cache=256M
while [ $# -gt 0 ]; do
  case "$1" in
    --bind_ip_all) host=0.0.0.0 ;;
    --bind_ip) host="$2"; shift ;;
    --port) port="$2"; shift ;;
    --dbpath) dbpath="$2"; shift ;;
    --replSet) echo "polydemo stand-in: --replSet $2 (SecantusDB is a one-node replica set already)"; shift ;;
    --wiredTigerCacheSizeGB) cache="$(awk -v g="$2" 'BEGIN{printf "%dM", g*1024}')"; shift ;;
    *) echo >&2 "polydemo stand-in: mongod flag $1 is not supported"; exit 2 ;;
  esac
  shift
done
exec /opt/secantusdb/venv/bin/secantusd-py --config /opt/secantusdb/secantusd.toml --host "$host" --port "$port" \
  --storage-path "$dbpath" --cache-size "$cache" --log-level WARNING
