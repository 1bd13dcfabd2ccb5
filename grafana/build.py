"""``forestall grafana build``: every file of ``grafana/provisioning``, written from the code —
the datasources, the dashboard provider, the dashboards (``dashboards.py``, ``operations.py``) and
the alerting (``alerts.py``). Nothing there is edited by hand."""

from __future__ import annotations

import json
from pathlib import Path

from grafana.alerts import provisioning as alerting_provisioning
from grafana.dashboards import dashboard_json, dashboards
from grafana.operations import DATASOURCE_YAML as METRICS_DATASOURCE_YAML
from grafana.operations import dashboard as operations_dashboard
from grafana.panels import BOARD_URL_PLACEHOLDER
from grafana.queries import DATASOURCE

PROVISIONING = Path(__file__).resolve().parent / "provisioning"

DATASOURCES_YAML = f"""\
# Written by `forestall grafana build`. The token comes from the environment Grafana runs in.
apiVersion: 1
datasources:
  - name: Forestall InfluxDB
    uid: {DATASOURCE.uid}
    type: influxdb
    access: proxy
    url: ${{FORESTALL_INFLUXDB_URL}}
    jsonData:
      dbName: ${{FORESTALL_INFLUXDB_BUCKET}}
      httpMode: POST
      httpHeaderName1: Authorization
    secureJsonData:
      httpHeaderValue1: Token ${{FORESTALL_INFLUXDB_TOKEN}}
{METRICS_DATASOURCE_YAML}"""

DASHBOARDS_YAML = """\
# Written by `forestall grafana build`.
apiVersion: 1
providers:
  - name: forestall
    folder: Forestall
    type: file
    disableDeletion: true
    allowUiUpdates: false
    options:
      # grafana/entrypoint.sh copies dashboards/forestall/ here with $FORESTALL_BOARD_URL filled in
      path: /var/lib/grafana/forestall-dashboards
"""


def provisioning_files(board_url: str = BOARD_URL_PLACEHOLDER) -> dict[str, str]:
    """Path (under ``grafana/provisioning``) → text of every file ``forestall grafana build`` writes."""
    files = {
        "datasources/forestall.yaml": DATASOURCES_YAML,
        "dashboards/forestall.yaml": DASHBOARDS_YAML,
    }
    # the Operations dashboard only in the operator's organisation (push gives tenants none)
    for name, builder in {**dashboards(board_url), "operations": operations_dashboard()}.items():
        text = json.dumps(dashboard_json(builder), indent=2, sort_keys=True) + "\n"
        files[f"dashboards/forestall/{name}.json"] = text
    alerting = json.dumps(alerting_provisioning(), indent=2, sort_keys=True)  # JSON is YAML, comments aside
    files["alerting/forestall.yaml"] = (
        f"# Written by `forestall grafana build` (grafana/alerts.py).\n{alerting}\n"
    )
    return files


def write_provisioning(folder: Path = PROVISIONING, board_url: str = BOARD_URL_PLACEHOLDER) -> list[Path]:
    written = []
    for relative, text in provisioning_files(board_url).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
