"""Reading back with InfluxQL over ``/query`` (InfluxDB 1.x; 2.x and 3.x through a DBRP mapping).

VictoriaMetrics accepts the write API but not InfluxQL, so with it these queries fail
with a StoreError; read VictoriaMetrics with its own export/PromQL API instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from forestall.series import Point, StoreError
from forestall.settings import InfluxSettings
from ingest.store.influxdb.lineproto import ns
from ingest.store.influxdb.transport import auth_headers, bucket_for, v1_params

# Tags per measurement (docs/ARCHITECTURE.md, storage); every other column is a field.
TAGS = {
    "telemetry": ("tenant", "asset", "asset_type", "customer", "site"),
    "asset_health": ("tenant", "asset", "customer", "model_version"),
    "customer_risk": ("tenant", "customer"),
    "recommendation": ("tenant", "customer", "asset", "priority"),
}
KEY_TAGS = {"asset_health": "asset", "customer_risk": "customer", "recommendation": "asset"}


def literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class InfluxQL:
    def __init__(self, settings: InfluxSettings) -> None:
        self.settings = settings
        self.client = httpx.Client(base_url=settings.url, timeout=settings.timeout_s)

    def rows(self, query: str, tenant: str) -> tuple[list[str], list[list[Any]]]:
        """Columns and rows of a single-series answer (time in epoch nanoseconds), from the
        tenant's bucket."""
        try:
            response = self.client.get(
                "/query",
                params=v1_params(self.settings, bucket_for(self.settings, tenant), q=query, epoch="ns"),
                headers=auth_headers(self.settings),
            )
        except httpx.HTTPError as exc:
            raise StoreError(f"influxdb query failed: {exc}", retryable=True) from exc
        if response.status_code != 200:
            raise StoreError(
                f"influxdb query failed: HTTP {response.status_code}: {response.text[:300]}",
                retryable=response.status_code >= 500,
            )
        result = response.json().get("results", [{}])[0]
        if "error" in result:
            raise StoreError(f"influxdb query failed: {result['error']}", retryable=False)
        series = result.get("series") or []
        if not series:
            return [], []
        return list(series[0]["columns"]), [list(v) for v in series[0]["values"]]

    def telemetry(
        self,
        tenant: str,
        asset: str,
        start: float,
        end: float,
        sensors: Sequence[str] | None,
        limit: int,
        after: float | None,
    ) -> list[tuple[float, dict[str, float]]]:
        low = f"time > {ns(after)}" if after is not None and after >= start else f"time >= {ns(start)}"
        selected = ",".join(ident(s) for s in sensors) if sensors else "*"
        columns, rows = self.rows(
            f"SELECT {selected} FROM telemetry WHERE tenant = {literal(tenant)} AND asset = "
            f"{literal(asset)} AND {low} AND time <= {ns(end)} ORDER BY time ASC LIMIT {int(limit)}",
            tenant,
        )
        tags = set(TAGS["telemetry"])
        result = []
        for row in rows:
            values = {
                c: float(v)
                for c, v in zip(columns[1:], row[1:], strict=True)
                if c not in tags and v is not None
            }
            if values:
                result.append((row[0] / 1e9, values))
        return result

    def points(
        self, measurement: str, tenant: str, key: str, start: float, end: float, limit: int
    ) -> list[Point]:
        key_tag = KEY_TAGS.get(measurement, "asset")
        columns, rows = self.rows(
            f"SELECT * FROM {ident(measurement)} WHERE tenant = {literal(tenant)} AND {ident(key_tag)} = "
            f"{literal(key)} AND time >= {ns(start)} AND time <= {ns(end)} ORDER BY time ASC "
            f"LIMIT {int(limit)}",
            tenant,
        )
        tags = set(TAGS.get(measurement, ("tenant", key_tag)))
        result = []
        for row in rows:
            named = dict(zip(columns[1:], row[1:], strict=True))
            result.append(
                Point(
                    measurement,
                    {c: str(v) for c, v in named.items() if c in tags and v is not None},
                    {c: float(v) for c, v in named.items() if c not in tags and v is not None},
                    row[0] / 1e9,
                )
            )
        return result

    def close(self) -> None:
        self.client.close()
