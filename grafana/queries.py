"""What the dashboards and the alert rules share: the one InfluxDB datasource, the raw InfluxQL
target Grafana's InfluxDB datasource takes (the SDK has no InfluxDB builder), and the JSON an SDK
builder builds."""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

DATASOURCE = model.DataSourceRef(type_val="influxdb", uid="forestall-influxdb")


class InfluxQuery(cogvariants.Dataquery):
    """A raw InfluxQL target of Grafana's InfluxDB datasource (the SDK has no InfluxDB builder)."""

    def __init__(self, ref_id: str, query: str, result_format: str, alias: str = "") -> None:
        self.ref_id, self.query, self.result_format, self.alias = ref_id, query, result_format, alias

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": DATASOURCE.to_json(),
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias:
            out["alias"] = self.alias
        return out


class InfluxQueryBuilder(cogbuilder.Builder[InfluxQuery]):
    def __init__(self, query: InfluxQuery) -> None:
        self._query = query

    def build(self) -> InfluxQuery:
        return self._query


def built_json(builder: cogbuilder.Builder[Any]) -> Any:
    """What an SDK builder builds, as the JSON Grafana takes (dashboards, rules, contact points)."""
    return json.loads(json.dumps(builder.build(), cls=JSONEncoder))
