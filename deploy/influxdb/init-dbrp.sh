#!/bin/bash
# Runs once, after the influxdb:2 image's DOCKER_INFLUXDB_INIT_MODE=setup created the org,
# the bucket (with its retention) and the admin token from the environment (compose.yaml).
# Adds the DBRP mapping that lets InfluxQL (Grafana's occmon data source) read the bucket
# as database "$INFLUX_DATABASE", retention policy "autogen".
set -euo pipefail
influx v1 dbrp create \
  --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
  --db "${INFLUX_DATABASE:-occmon}" \
  --rp autogen \
  --default
echo "occmon: DBRP ${INFLUX_DATABASE:-occmon}/autogen -> bucket ${DOCKER_INFLUXDB_INIT_BUCKET}"
