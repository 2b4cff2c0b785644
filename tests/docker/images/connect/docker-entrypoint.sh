#!/bin/bash
# polydemo stand-in for Debezium's connect image entrypoint (written for polydemo; the contract was read
# from debezium/container-images connect-base/3.0/docker-entrypoint.sh).
# REPRODUCED (what docker-compose.yml relies on):
#   * BOOTSTRAP_SERVERS, GROUP_ID, CONFIG_STORAGE_TOPIC, OFFSET_STORAGE_TOPIC, STATUS_STORAGE_TOPIC,
#     KEY_CONVERTER, VALUE_CONVERTER, OFFSET_FLUSH_INTERVAL_MS, OFFSET_FLUSH_TIMEOUT_MS, SHUTDOWN_TIMEOUT,
#     ADVERTISED_HOST_NAME/PORT, REST_HOST_NAME/PORT with the image's defaults, HEAP_OPTS -> KAFKA_HEAP_OPTS
#   * then every CONNECT_<NAME> variable becomes the worker property <name> (lower case, "_" -> "."),
#     replacing the same key of config/connect-distributed.properties or appended to it
#   * plugins from $KAFKA_CONNECT_PLUGINS_DIR (/kafka/connect) unless CONNECT_PLUGIN_PATH says otherwise
#   * `start` (the default command) checks the required variables and execs the distributed worker;
#     any other command is exec'd as is
# NOT REPRODUCED: Apicurio/scripting/OTel/Jolokia/JMX-exporter/JFR switches, the REST extension, the
#   log4j.properties rewriting (logs go to stdout with log4j2), Docker links discovery of Kafka.
set -e
: "${BOOTSTRAP_SERVERS:=0.0.0.0:9092}"
: "${HOST_NAME:=$(hostname -i | awk '{print $1}')}"
: "${REST_PORT:=8083}" "${REST_HOST_NAME:=$HOST_NAME}" "${ADVERTISED_PORT:=8083}" "${ADVERTISED_HOST_NAME:=$HOST_NAME}"
: "${GROUP_ID:=1}" "${OFFSET_FLUSH_INTERVAL_MS:=60000}" "${OFFSET_FLUSH_TIMEOUT_MS:=5000}" "${SHUTDOWN_TIMEOUT:=10000}"
: "${KEY_CONVERTER:=org.apache.kafka.connect.json.JsonConverter}" "${VALUE_CONVERTER:=org.apache.kafka.connect.json.JsonConverter}"
export CONNECT_REST_ADVERTISED_PORT=$ADVERTISED_PORT CONNECT_REST_ADVERTISED_HOST_NAME=$ADVERTISED_HOST_NAME
export CONNECT_REST_PORT=$REST_PORT CONNECT_REST_HOST_NAME=$REST_HOST_NAME
export CONNECT_BOOTSTRAP_SERVERS=$BOOTSTRAP_SERVERS CONNECT_GROUP_ID=$GROUP_ID
export CONNECT_CONFIG_STORAGE_TOPIC=$CONFIG_STORAGE_TOPIC CONNECT_OFFSET_STORAGE_TOPIC=$OFFSET_STORAGE_TOPIC
[ -n "$STATUS_STORAGE_TOPIC" ] && export CONNECT_STATUS_STORAGE_TOPIC=$STATUS_STORAGE_TOPIC
export CONNECT_KEY_CONVERTER=$KEY_CONVERTER CONNECT_VALUE_CONVERTER=$VALUE_CONVERTER
export CONNECT_TASK_SHUTDOWN_GRACEFUL_TIMEOUT_MS=$SHUTDOWN_TIMEOUT
export CONNECT_OFFSET_FLUSH_INTERVAL_MS=$OFFSET_FLUSH_INTERVAL_MS CONNECT_OFFSET_FLUSH_TIMEOUT_MS=$OFFSET_FLUSH_TIMEOUT_MS
[ -n "$HEAP_OPTS" ] && export KAFKA_HEAP_OPTS=$HEAP_OPTS
unset HOST_NAME REST_PORT REST_HOST_NAME ADVERTISED_PORT ADVERTISED_HOST_NAME GROUP_ID OFFSET_FLUSH_INTERVAL_MS \
      OFFSET_FLUSH_TIMEOUT_MS SHUTDOWN_TIMEOUT KEY_CONVERTER VALUE_CONVERTER HEAP_OPTS
export CONNECT_PLUGIN_PATH=${CONNECT_PLUGIN_PATH:-$KAFKA_CONNECT_PLUGINS_DIR}
echo "Plugins are loaded from $CONNECT_PLUGIN_PATH"
mkdir -p "$KAFKA_DATA"

case "$1" in
  start)
    for v in CONNECT_BOOTSTRAP_SERVERS CONNECT_GROUP_ID CONNECT_CONFIG_STORAGE_TOPIC CONNECT_OFFSET_STORAGE_TOPIC; do
      if [ -z "${!v}" ]; then echo "The ${v#CONNECT_} variable must be set."; exit 1; fi
    done
    cp -rn "$KAFKA_HOME"/config.orig/* "$KAFKA_HOME"/config/
    props="$KAFKA_HOME/config/connect-distributed.properties"
    export KAFKA_LOG4J_CONFIG="$KAFKA_HOME/config/log4j2.properties"
    declare -A wanted=()
    for var in $(compgen -e); do
      [[ "$var" == CONNECT_* ]] || continue
      name="${var#CONNECT_}"; name="${name,,}"; name="${name//_/.}"
      wanted[$name]="${!var}"
      case "$var" in *PASSWORD*|*JAAS*) shown="[hidden]" ;; *) shown="${!var}" ;; esac
      echo "--- Setting property from $var: $name=$shown"
    done
    while IFS= read -r line || [ -n "$line" ]; do
      key="${line%%=*}"; key="${key#\#}"
      [ -n "${wanted[$key]+x}" ] || printf '%s\n' "$line"
    done < "$props" > "$props.new"
    for name in "${!wanted[@]}"; do printf '%s=%s\n' "$name" "${wanted[$name]}"; done >> "$props.new"
    mv "$props.new" "$props"
    exec "$KAFKA_HOME"/bin/connect-distributed.sh "$props"
    ;;
esac
exec "$@"
