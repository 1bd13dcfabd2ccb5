"""The Fleet dashboard's tables on a real InfluxDB 1.6, with the cases a dispatcher is misled by:
an asset offline for longer than the dashboard's range, and a newest health point without a time
to failure next to an older one with it. Queries run as Grafana sends them (``as_grafana_sends``)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from grafana.dashboards import QUERIES, dashboard_json, dashboards
from tests.ingest.conftest import InfluxDB1
from tests.support import as_grafana_sends

NOW = int(time.time())
TWO_DAYS = (NOW - 2 * 86400, NOW)  # the dashboards' default range


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1]:
    server = InfluxDB1(tmp_path_factory.mktemp("fleet") / "influxdb")
    server.query("CREATE DATABASE forestall")
    month_ago = NOW - 30 * 86400
    lines = [
        # p-1 went offline a month ago and has said nothing since
        f"asset_status,tenant=acme,asset=p-1,customer=c1 online=1 {month_ago - 3600}",
        f"asset_status,tenant=acme,asset=p-1,customer=c1 online=0 {month_ago}",
        # p-2 came online a week ago; p-3 went offline an hour ago
        f"asset_status,tenant=acme,asset=p-2,customer=c1 online=1 {NOW - 7 * 86400}",
        f"asset_status,tenant=acme,asset=p-3,customer=c2 online=1 {NOW - 86400}",
        f"asset_status,tenant=acme,asset=p-3,customer=c2 online=0 {NOW - 3600}",
        # another tenant's asset is not listed
        f"asset_status,tenant=globex,asset=g-1,customer=c9 online=0 {NOW - 3600}",
        # p-1's newest health has no time to failure; an older point had one
        "asset_health,tenant=acme,asset=p-1,customer=c1,model_version=v"
        f" failure_probability=0.2,anomaly_score=0.3,ttf_hours=30 {NOW - 6 * 3600}",
        "asset_health,tenant=acme,asset=p-1,customer=c1,model_version=v"
        f" failure_probability=0.9,anomaly_score=0.95 {NOW - 600}",
        "asset_health,tenant=acme,asset=p-2,customer=c1,model_version=v"
        f" failure_probability=0.6,anomaly_score=0.5,ttf_hours=40 {NOW - 300}",
    ]
    response = httpx.post(
        f"{server.url}/write",
        params={"db": "forestall", "precision": "s"},
        content="\n".join(lines),
        timeout=30,
    )
    assert response.status_code == 204, response.text
    yield server
    server.stop()


def test_an_asset_offline_for_longer_than_the_range_stays_listed_with_the_time_it_went_offline(
    fleet: InfluxDB1,
) -> None:
    rows = fleet.rows(as_grafana_sends(QUERIES["ASSETS_ONLINE"].text, TWO_DAYS, "1m", tenant="acme"))
    assert {r["asset"]: (r["online"], r["time"]) for r in rows} == {
        "p-1": (0.0, NOW - 30 * 86400),
        "p-2": (1.0, NOW - 7 * 86400),
        "p-3": (0.0, NOW - 3600),
    }
    # a range that ends before p-3 went offline shows it as it was then
    earlier = (NOW - 3 * 86400, NOW - 2 * 3600)
    rows = fleet.rows(as_grafana_sends(QUERIES["ASSETS_ONLINE"].text, earlier, "1m", tenant="acme"))
    assert {r["asset"]: r["online"] for r in rows} == {"p-1": 0.0, "p-2": 1.0, "p-3": 1.0}


def test_each_row_of_assets_at_risk_is_one_health_point_and_carries_its_time(fleet: InfluxDB1) -> None:
    rows = fleet.rows(as_grafana_sends(QUERIES["ASSETS_AT_RISK"].text, TWO_DAYS, "1m", tenant="acme"))
    got = {
        r["asset"]: (r["failure_probability"], r["ttf_hours"], r["anomaly_score"], r["time"]) for r in rows
    }
    assert got == {
        # the fresh probability is not shown next to the six-hour-old time to failure
        "p-1": (0.9, None, 0.95, NOW - 600),
        "p-2": (0.6, 40.0, 0.5, NOW - 300),
    }


def test_assets_at_risk_is_sorted_by_risk_with_units_colours_and_a_drilldown() -> None:
    fleet = dashboard_json(dashboards()["fleet"])
    [panel] = [p for p in fleet["panels"] if p["title"] == "Assets at risk"]
    assert [t["id"] for t in panel["transformations"]] == ["merge"]  # one table of every asset
    overrides = {
        o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}
        for o in panel["fieldConfig"]["overrides"]
    }
    risk = overrides["failure_probability"]
    assert panel["options"]["sortBy"] == [{"displayName": risk["displayName"], "desc": True}]
    assert risk["unit"] == "percentunit" and [s["value"] for s in risk["thresholds"]["steps"]] == [
        None,
        0.5,
        0.8,
    ]
    assert risk["custom.cellOptions"] == {"type": "color-background"}
    assert overrides["ttf_hours"]["unit"] == "h"
    assert overrides["Time"]["unit"] == "dateTimeFromNow"  # how old the row's health point is
    urls = [link["url"] for link in panel["fieldConfig"]["defaults"]["links"]]
    assert any(u.startswith("/d/forestall-asset/") and "var-asset=${__data.fields.asset}" in u for u in urls)
