#!/usr/bin/env bash
# Spike / documentation of the exact argv used to run Kafka 4.3.1 (KRaft, one combined
# broker+controller) + a Kafka Connect distributed worker + Debezium 3.7.0 Postgres connector
# as plain local processes, jars from Maven Central only. Not production code.
#
#   bash stack/kafka/spike.sh all     # fetch, pg, format, broker, connect, register, test, kill9, stop
#   bash stack/kafka/spike.sh <step>  # one step (see case at the bottom)
#
# Needs: java 17, mvn, postgresql-15 (apt), python3 (a venv with confluent-kafka + psycopg is made).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
S=${SPIKE_DIR:-/tmp/kafkaspike/run}                 # scratch: data, rendered configs, logs, pids
CACHE=${KAFKA_CACHE:-$HOME/.cache/polydemo/kafka}
LIBS=$CACHE/libs
PLUGINS=$CACHE/plugins
KAFKA_PORT=29092 CONTROLLER_PORT=29093 CONNECT_PORT=28083 PG_PORT=25432
PGBIN=/usr/lib/postgresql/15/bin
VENV=${VENV:-/tmp/kafkaspike/venv}
PY=$VENV/bin/python
CONNECT=http://127.0.0.1:$CONNECT_PORT

# JVM flags. G1 variant measured: broker ~325-385 MB RSS, Connect ~210 MB with Xmx512m.
# Serial variant (used here): broker ~340 MB / Connect ~185 MB RSS after a little traffic, with Xmx256m.
JVM_COMMON=(-XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -XX:MaxMetaspaceSize=128m -Xss512k
            -XX:ReservedCodeCacheSize=64m -Djava.awt.headless=true
            "-Dlog4j2.configurationFile=$HERE/log4j2.properties")
BROKER_HEAP=(-Xms64m -Xmx256m)
CONNECT_HEAP=(-Xms64m -Xmx256m)

mkdir -p "$S"

fetch() {   # ~11 s with an empty ~/.m2, ~4-5 s warm; 54 MB libs (91 jars) + 6.3 MB plugin
  mvn -B -q -f "$HERE/pom.xml" generate-resources \
      -Dkafka.libs.dir="$LIBS" -Dkafka.plugins.dir="$PLUGINS"
}

venv() {
  [ -x "$PY" ] || python3 -m venv "$VENV"
  "$PY" -m pip install -q confluent-kafka==2.16.1 "psycopg[binary]==3.3.9"
}

pg() {      # PostgreSQL 15 on 127.0.0.1:$PG_PORT, wal_level=logical, trust incl. replication
  if [ ! -f "$S/pg/PG_VERSION" ]; then
    mkdir -p "$S/pg"; chown postgres:postgres "$S/pg"; chmod 700 "$S/pg"; chmod 1777 "$S"
    runuser -u postgres -- "$PGBIN/initdb" -D "$S/pg" -A trust -U postgres >"$S/initdb.log"
    cat >>"$S/pg/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$S'
wal_level = logical
max_wal_senders = 5
max_replication_slots = 5
EOF
    printf 'local all all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n' >"$S/pg/pg_hba.conf"
  fi
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$S/pg" -l "$S/pg.log" -w start
  local P=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAt)
  "${P[@]}" -c "select 1 from pg_database where datname='polydemo'" | grep -q 1 || "${P[@]}" -c "create database polydemo"
  "${P[@]}" -d polydemo -c "create table if not exists users(id bigserial primary key, email text unique, name text)"
  "${P[@]}" -d polydemo -c "select 1 from pg_publication where pubname='polydemo_pub'" | grep -q 1 \
    || "${P[@]}" -d polydemo -c "create publication polydemo_pub for table users"
}

render() {  # the templates are Python str.format templates
  python3 - "$HERE" "$S" "$PLUGINS" $KAFKA_PORT $CONTROLLER_PORT $CONNECT_PORT <<'EOF'
import sys
here, s, plugins, kp, cp, connp = sys.argv[1:]
open(f'{s}/server.properties', 'w').write(open(f'{here}/server.properties').read().format(
    kafka_port=kp, controller_port=cp, log_dirs=f'{s}/kafka-data'))
open(f'{s}/connect-distributed.properties', 'w').write(open(f'{here}/connect-distributed.properties').read().format(
    kafka_port=kp, connect_port=connp, plugins_dir=plugins, group_id='polydemo-connect'))
EOF
}

format() {  # once per data dir; cluster id = Kafka Uuid (url-safe base64 of 16 random bytes, no '-' first)
  render
  [ -f "$S/kafka-data/meta.properties" ] && return 0
  local cid
  cid=$(python3 -c "import base64,uuid
while True:
    s=base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b'=').decode()
    if not s.startswith('-'): print(s); break")
  # (or: java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid   -- prints a log4j line first)
  java "${JVM_COMMON[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format -t "$cid" -c "$S/server.properties"
}

wait_http() { "$PY" - "$1" <<'EOF'
import sys, time, urllib.request
t0 = time.time()
while time.time() - t0 < 120:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=1) as r:
            if r.status == 200: print(f"{sys.argv[1]} -> 200 after {time.time()-t0:.2f}s"); sys.exit(0)
    except Exception: pass
    time.sleep(0.1)
sys.exit(1)
EOF
}

broker() {  # ~2.3-3 s to a metadata response listing broker 1
  nohup java "${BROKER_HEAP[@]}" "${JVM_COMMON[@]}" -cp "$LIBS/*" kafka.Kafka "$S/server.properties" \
      >"$S/broker.log" 2>&1 &
  echo $! >"$S/broker.pid"
  "$PY" - $KAFKA_PORT <<'EOF'
import sys, time
from confluent_kafka.admin import AdminClient
t0 = time.time(); a = AdminClient({'bootstrap.servers': f'127.0.0.1:{sys.argv[1]}', 'log_level': 0})
while time.time() - t0 < 60:
    try:
        if a.list_topics(timeout=1).brokers: print(f"broker metadata OK after {time.time()-t0:.2f}s"); break
    except Exception: time.sleep(0.1)
EOF
}

connect() { # ~3 s to GET /connectors 200 (GET /health is 200 at the same moment)
  nohup java "${CONNECT_HEAP[@]}" "${JVM_COMMON[@]}" -cp "$LIBS/*" \
      org.apache.kafka.connect.cli.ConnectDistributed "$S/connect-distributed.properties" \
      >"$S/connect.log" 2>&1 &
  echo $! >"$S/connect.pid"
  wait_http "$CONNECT/connectors"
  curl -s "$CONNECT/connector-plugins"; echo
}

register() {
  curl -s -X PUT -H 'Content-Type: application/json' "$CONNECT/connectors/polydemo-pg/config" --data @- <<EOF
{
  "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
  "tasks.max": "1",
  "plugin.name": "pgoutput",
  "publication.name": "polydemo_pub",
  "publication.autocreate.mode": "disabled",
  "slot.name": "polydemo_slot",
  "topic.prefix": "polydemo",
  "database.hostname": "127.0.0.1",
  "database.port": "$PG_PORT",
  "database.user": "postgres",
  "database.password": "postgres",
  "database.dbname": "polydemo",
  "table.include.list": "public.users",
  "snapshot.mode": "initial",
  "poll.interval.ms": "10",
  "heartbeat.interval.ms": "10000",
  "producer.override.linger.ms": "0",
  "key.converter": "org.apache.kafka.connect.json.JsonConverter",
  "key.converter.schemas.enable": "false",
  "value.converter": "org.apache.kafka.connect.json.JsonConverter",
  "value.converter.schemas.enable": "false"
}
EOF
  echo
  for _ in $(seq 1 100); do
    curl -s "$CONNECT/connectors/polydemo-pg/status" | grep -q '"tasks":\[{"id":0,"state":"RUNNING"' && break
    sleep 0.2
  done
  curl -s "$CONNECT/connectors/polydemo-pg/status"; echo
}

test_latency() {  # insert one row at a time, time commit -> consumed (median ~20 ms here)
  "$PY" - $KAFKA_PORT $PG_PORT <<'EOF'
import json, sys, time, uuid
import psycopg
from confluent_kafka import Consumer, TopicPartition
kp, pp = sys.argv[1:]
topic = 'polydemo.public.users'
conn = psycopg.connect(f'host=127.0.0.1 port={pp} user=postgres dbname=polydemo', autocommit=True)
c = Consumer({'bootstrap.servers': f'127.0.0.1:{kp}', 'group.id': 'lat-' + uuid.uuid4().hex[:6],
              'enable.auto.commit': False, 'fetch.wait.max.ms': 10, 'log_level': 3})
# the topic only exists after the first change event: make one, wait for the topic
conn.execute("insert into users(email, name) values (%s, 'warmup')", (uuid.uuid4().hex + '@x',))
hi = None
for _ in range(100):
    try: lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=2); break
    except Exception: time.sleep(0.2)
c.assign([TopicPartition(topic, 0, hi)])   # explicit offset: 'latest' resolves lazily and can skip
lat = []
for i in range(10):
    email = f'{uuid.uuid4().hex[:10]}@example.com'
    t0 = time.time()
    conn.execute('insert into users(email, name) values (%s, %s)', (email, f'n{i}'))
    while True:
        m = c.poll(10)
        if m is None: print('timeout', email); break
        if m.error() or m.value() is None: continue
        if (json.loads(m.value()).get('after') or {}).get('email') == email:
            lat.append((time.time() - t0) * 1000); break
    time.sleep(0.2)
print('latency ms', [round(x) for x in lat])
print('last key', m.key(), 'value', m.value()[:200])
EOF
}

kill9() {   # kill -9 Connect, change rows meanwhile, restart, check nothing was lost
  kill -9 "$(cat "$S/connect.pid")"; sleep 1
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d polydemo -qAt -c \
    "insert into users(email,name) select 'outage'||g||'-'||extract(epoch from now())||'@x','during-outage' from generate_series(1,5) g"
  connect
  sleep 2; curl -s "$CONNECT/connectors/polydemo-pg/status"; echo
  "$PY" - $KAFKA_PORT <<'EOF'
import json, sys, time, uuid
from confluent_kafka import Consumer
c = Consumer({'bootstrap.servers': f'127.0.0.1:{sys.argv[1]}', 'group.id': 'dump-' + uuid.uuid4().hex[:6],
              'auto.offset.reset': 'earliest', 'log_level': 3})
c.subscribe(['polydemo.public.users']); t0 = time.time(); n = 0
while time.time() - t0 < 15:
    m = c.poll(0.5)
    if m is None or m.error() or m.value() is None: continue
    v = json.loads(m.value()); n += 1
    if (v.get('after') or {}).get('name') == 'during-outage': print('got', v['op'], v['after'])
print('events in topic:', n)
EOF
}

stop() {    # SIGTERM by pid; Connect exits in ~2 s, broker ~2 s
  for n in connect broker; do
    if [ -f "$S/$n.pid" ] && kill -0 "$(cat "$S/$n.pid")" 2>/dev/null; then
      kill -TERM "$(cat "$S/$n.pid")"
      while kill -0 "$(cat "$S/$n.pid")" 2>/dev/null; do sleep 0.1; done
    fi
  done
  [ -f "$S/pg/postmaster.pid" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$S/pg" -m fast stop || true
}

case "${1:-all}" in
  all) fetch; venv; pg; format; broker; connect; register; test_latency; kill9; stop ;;
  fetch|venv|pg|render|format|broker|connect|register|test_latency|kill9|stop) "$1" ;;
  *) echo "usage: $0 [all|fetch|venv|pg|format|broker|connect|register|test_latency|kill9|stop]" >&2; exit 2 ;;
esac
