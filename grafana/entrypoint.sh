#!/bin/sh
# Grafana's entrypoint in docker-compose.yml: what Grafana's provisioning cannot do itself, then
# Grafana. Grafana expands environment variables in provisioning YAML but not in dashboard JSON,
# so the dashboards are copied to where grafana/provisioning/dashboards/forestall.yaml reads
# them, with ${FORESTALL_BOARD_URL} replaced by the board's address; the datasource's InfluxDB
# token is read from the file influxdb-init wrote.
set -eu
SOURCE=${FORESTALL_DASHBOARDS_SOURCE:-/etc/grafana/provisioning/dashboards/forestall}
TARGET=${FORESTALL_DASHBOARDS_DIR:-/var/lib/grafana/forestall-dashboards}
BOARD=${FORESTALL_BOARD_URL:-http://localhost:8000}
case $BOARD in
  *'|'* | *'\'* | *'&'* | *'"'*) echo "FORESTALL_BOARD_URL may not hold | \\ & or \"" >&2; exit 1 ;;
esac
mkdir -p "$TARGET"
rm -f "$TARGET"/*.json
for dashboard in "$SOURCE"/*.json; do
  sed 's|\${FORESTALL_BOARD_URL}|'"$BOARD"'|g' "$dashboard" > "$TARGET/${dashboard##*/}"
done
if [ -z "${FORESTALL_INFLUXDB_TOKEN:-}" ]; then
  FORESTALL_INFLUXDB_TOKEN=$(cat "${FORESTALL_INFLUXDB_TOKEN_FILE:-/run/influxdb-token/token}")
  export FORESTALL_INFLUXDB_TOKEN
fi
[ $# -gt 0 ] || set -- /run.sh  # the image's own start script
exec "$@"
