#!/bin/sh
# polydemo stand-in for the official redis image's docker-entrypoint.sh (contract read from
# docker-library/redis): a first argument starting with "-" or ending in .conf means redis-server;
# redis-server runs as user redis with /data (the volume) as its working directory.
# NOT REPRODUCED: the umask/ownership fix-ups for other --user ids, the protected-mode warnings.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec gosu redis "$0" "$@"
fi
exec "$@"
