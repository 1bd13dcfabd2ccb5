#!/bin/sh
# Run once by the influxdb image after its setup (docker-compose.yml): Grafana's dashboards query
# with InfluxQL, which reads a bucket through a DBRP mapping (database/retention policy → bucket).
# With influxdb.tenant_buckets the store maps each tenant's bucket itself when it creates it.
set -e
bucket_id=$(influx bucket list --name "$DOCKER_INFLUXDB_INIT_BUCKET" --hide-headers | cut -f1)
influx v1 dbrp create --db "$DOCKER_INFLUXDB_INIT_BUCKET" --rp autogen --bucket-id "$bucket_id" --default
