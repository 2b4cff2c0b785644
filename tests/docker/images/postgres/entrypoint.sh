#!/usr/bin/env bash
# polydemo stand-in for the official postgres image's docker-entrypoint.sh (written for polydemo, not
# copied; the contract was read from docker-library/postgres 15/bookworm/docker-entrypoint.sh).
# REPRODUCED (what docker-compose.yml relies on):
#   * a first argument starting with "-" means `postgres <args>`; `postgres ...` runs as user postgres
#   * empty $PGDATA: initdb with POSTGRES_USER and POSTGRES_PASSWORD (required, as upstream), local
#     connections trusted, `host all all all scram-sha-256` appended to pg_hba.conf
#   * a temporary server on the unix socket only (listen_addresses=''), so a TCP healthcheck
#     (`pg_isready -h 127.0.0.1`) fails until initialisation is over
#   * POSTGRES_DB created (default: POSTGRES_USER), then /docker-entrypoint-initdb.d/* in name order:
#     *.sql through psql -v ON_ERROR_STOP=1 into POSTGRES_DB, *.sh executed (or sourced if not executable)
#   * then exec of the real server with the given arguments; a non-empty $PGDATA skips all of this
# NOT REPRODUCED: *_FILE secrets, POSTGRES_INITDB_ARGS/WALDIR, POSTGRES_HOST_AUTH_METHOD, nss_wrapper for
#   arbitrary --user ids, *.sql.gz/xz/zst, the en_US.utf8 locale (C.UTF-8 here).
set -Eeo pipefail

if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi

if [ "$1" = 'postgres' ]; then
  : "${POSTGRES_USER:=postgres}"
  : "${POSTGRES_DB:=$POSTGRES_USER}"
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA" || :
  if [ "$(id -u)" = '0' ]; then
    find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' +
    exec gosu postgres "$BASH_SOURCE" "$@"
  fi
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
      echo >&2 "Error: Database is uninitialized and superuser password is not specified (POSTGRES_PASSWORD)."
      exit 1
    fi
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") -E UTF8 --locale=C.UTF-8
    printf '\nhost all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
    shift
    export PGPASSWORD="$POSTGRES_PASSWORD"
    opts=""
    if [ $# -gt 0 ]; then opts="$(printf '%q ' "$@")"; fi
    pg_ctl -D "$PGDATA" -o "$opts -c listen_addresses='' -p 5432" -w start
    psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
    if [ -z "$("${psql[@]}" --dbname postgres --tuples-only --set db="$POSTGRES_DB" <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")" ]; then
      "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    for f in /docker-entrypoint-initdb.d/*; do
      case "$f" in
        *.sh) if [ -x "$f" ]; then echo "$0: running $f"; "$f"; else echo "$0: sourcing $f"; . "$f"; fi ;;
        *.sql) echo "$0: running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
        *) [ -e "$f" ] && echo "$0: ignoring $f" ;;
      esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGPASSWORD
    echo; echo 'PostgreSQL init process complete; ready for start up.'; echo
    set -- postgres "$@"
  else
    echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
  fi
fi

exec "$@"
