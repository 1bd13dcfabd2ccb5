#!/bin/sh
# InfluxDB 2 for Forestall, run by the influxdb-init service of docker-compose.yml on every start,
# with the operator token (the only holder of it besides InfluxDB itself):
#
#  1. the DBRP mapping (database/retention policy → bucket) that Grafana's InfluxQL and the store's
#     reads go through; with influxdb.tenant_buckets the store maps each tenant's bucket itself;
#  2. a token per client with only the rights it needs, each written where only that client's
#     service mounts it ($TOKENS_DIR/<client>/token):
#       grafana  read the bucket          influx auth create --read-bucket ID
#       api      read the bucket          influx auth create --read-bucket ID
#       worker   read and write it        influx auth create --read-bucket ID --write-bucket ID
#     (writing covers the worker's deletes past retention). With TENANT_BUCKETS=true (each
#     tenant's points in a bucket of its own, influxdb.tenant_buckets) the API reads every bucket
#     of the org (--read-buckets) and the worker also creates them and their DBRP mappings
#     (--read-buckets --write-buckets --read-dbrps --write-dbrps); Grafana's stays on the shared
#     bucket (each tenant's organisation gets its own reader from `forestall grafana push`).
#     A token already written, still known to InfluxDB and made with the same rights is kept;
#     otherwise a new one replaces it (and any other of its description).
#
# Environment: INFLUX_HOST, INFLUX_ORG, INFLUX_TOKEN_FILE (the operator token), FORESTALL_BUCKET,
# TOKENS_DIR, TENANT_BUCKETS (default false). docs/OPERATIONS.md has the same commands by hand,
# and how to rotate a token.
set -eu
: "${INFLUX_HOST:?}" "${INFLUX_ORG:?}" "${INFLUX_TOKEN_FILE:?}" "${FORESTALL_BUCKET:?}" "${TOKENS_DIR:?}"
INFLUX_TOKEN=$(cat "$INFLUX_TOKEN_FILE")
export INFLUX_HOST INFLUX_ORG INFLUX_TOKEN

bucket_id=$(influx bucket list --name "$FORESTALL_BUCKET" --hide-headers | awk 'NR == 1 {print $1}')
if [ -z "$bucket_id" ]; then
    echo "influxdb-init: no bucket $FORESTALL_BUCKET in org $INFLUX_ORG" >&2
    exit 1
fi

if [ -z "$(influx v1 dbrp list --db "$FORESTALL_BUCKET" --hide-headers)" ]; then
    influx v1 dbrp create --db "$FORESTALL_BUCKET" --rp autogen --bucket-id "$bucket_id" --default
fi

# The IDs (field 1) or tokens (field 3) of the authorizations described as $1.
authorizations() {
    influx auth list --hide-headers | awk -v description="$1" -v field="$2" '$2 == description {print $field}'
}

token_for() {  # client, then the rights as `influx auth create` flags
    client=$1
    shift
    file="$TOKENS_DIR/$client/token"
    description="forestall-$client"
    rights="$*"
    if [ -s "$file" ] && [ "$(cat "$file.rights" 2>/dev/null)" = "$rights" ] &&
        authorizations "$description" 3 | grep -qxF "$(cat "$file")"; then
        echo "influxdb-init: $description: kept"
        return 0
    fi
    for id in $(authorizations "$description" 1); do
        influx auth delete --id "$id" >/dev/null
    done
    token=$(influx auth create --org "$INFLUX_ORG" --description "$description" "$@" --hide-headers |
        awk 'NR == 1 {print $3}')
    if [ -z "$token" ]; then
        echo "influxdb-init: $description: no token made" >&2
        exit 1
    fi
    mkdir -p "$TOKENS_DIR/$client"
    printf '%s\n' "$token" >"$file.new"
    chmod 0444 "$file.new"  # the client's service runs as its own user and mounts only this folder
    mv "$file.new" "$file"
    printf '%s\n' "$rights" >"$file.rights"
    echo "influxdb-init: $description: made"
}

token_for grafana --read-bucket "$bucket_id"
if [ "${TENANT_BUCKETS:-false}" = true ]; then
    token_for api --read-buckets
    token_for worker --read-buckets --write-buckets --read-dbrps --write-dbrps
else
    token_for api --read-bucket "$bucket_id"
    token_for worker --read-bucket "$bucket_id" --write-bucket "$bucket_id"
fi
