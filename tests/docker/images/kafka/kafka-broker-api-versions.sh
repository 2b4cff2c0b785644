#!/bin/bash
# The tool docker-compose.yml's healthcheck runs (the class Kafka 4.x's script of this name runs).
KAFKA_HEAP_OPTS="-Xmx64M" KAFKA_JVM_PERFORMANCE_OPTS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1" \
  exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
