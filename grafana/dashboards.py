"""The dispatchers' dashboards, in code (grafana-foundation-sdk), on the InfluxDB measurements of
docs/ARCHITECTURE.md, storage queried with InfluxQL: ``forestall grafana build`` writes them, with the
datasource, into ``grafana/provisioning`` — nothing there is edited by hand.

Every query is one ``Query`` below, so the tests run each of them against a real InfluxDB with
Grafana's macros substituted. Template variables: ``$tenant``, ``$customer``, ``$asset``.

Besides readings, health, risk and recommendations, the worker writes what the dashboards chart
of the state DB's facts as measurements of their own (``forestall/measurements.py``: liveness,
rejections, surveys, incidents, failures, visit outcomes), so one datasource per tenant, with
one credential, shows everything and nothing of another tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from grafana.panels import (
    TAG,
    InfluxAnnotation,
    InfluxAnnotationBuilder,
    asset_drilldown,
    board_link,
    field,
    merged,
    other_dashboards,
    steps,
)
from grafana.queries import DATASOURCE, InfluxQuery, InfluxQueryBuilder, built_json

TENANT = '"tenant" =~ /^$tenant$/'
CUSTOMER = '"customer" =~ /^$customer$/'
ASSET = '"asset" =~ /^$asset$/'
# Where dispatchers' tables link to: the API's board (``?customer=`` / ``?asset=``). A dashboard
# constant, so an operator sets it once (``forestall grafana build --board-url``, or in Grafana).
BOARD_URL = "http://localhost:8000"
VISITS_UID = "forestall-visits"


@dataclass(frozen=True)
class Query:
    """One panel's InfluxQL and what it must return: the columns its panel plots."""

    text: str
    columns: tuple[str, ...]
    table: bool = False  # a table panel (last values per series) rather than a time series
    alias: str = ""

    def target(self, ref_id: str = "A") -> InfluxQueryBuilder:
        fmt = "table" if self.table else "time_series"
        return InfluxQueryBuilder(InfluxQuery(ref_id, self.text, fmt, self.alias))


def _variable(name: str, label: str, query: str) -> db.QueryVariable:
    return (
        db.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )


VARIABLES = {
    "tenant": _variable("tenant", "Tenant", 'SHOW TAG VALUES FROM "asset_health" WITH KEY = "tenant"'),
    "customer": _variable(
        "customer", "Customer", f'SHOW TAG VALUES FROM "customer_risk" WITH KEY = "customer" WHERE {TENANT}'
    ),
    "asset": _variable(
        "asset", "Asset", f'SHOW TAG VALUES FROM "asset_health" WITH KEY = "asset" WHERE {TENANT}'
    ),
}

# -- the queries, one per panel ------------------------------------------------------------------

# Every field of one row from the newest health point of the asset (a raw select, newest first, one
# row per series), so a fresh probability never sits next to an older time to failure: a point
# without one leaves the cell empty; the row's time is that point's, shown as its age.
ASSETS_AT_RISK = Query(
    'SELECT "failure_probability", "ttf_hours", "anomaly_score" FROM "asset_health"'
    f' WHERE {TENANT} AND $timeFilter GROUP BY "asset", "customer" ORDER BY time DESC LIMIT 1',
    ("failure_probability", "ttf_hours", "anomaly_score"),
    table=True,
)
ANOMALY_OVERVIEW = Query(
    f'SELECT max("anomaly_score") FROM "asset_health" WHERE {TENANT} AND $timeFilter'
    ' GROUP BY time($__interval), "asset" fill(none)',
    ("max",),
    alias="$tag_asset",
)
RECOMMENDATIONS_OPENED = Query(
    f'SELECT count("priority_score") FROM "recommendation" WHERE {TENANT} AND $timeFilter'
    ' GROUP BY time($__interval), "priority" fill(0)',
    ("count",),
    alias="$tag_priority",
)
RISK_RANKING = Query(
    f'SELECT last("risk_index") AS "risk_index" FROM "customer_risk" WHERE {TENANT} AND $timeFilter'
    ' GROUP BY "customer"',
    ("risk_index",),
    table=True,
)
RISK_OVER_TIME = Query(
    f'SELECT mean("risk_index") FROM "customer_risk" WHERE {TENANT} AND {CUSTOMER} AND $timeFilter'
    ' GROUP BY time($__interval), "customer" fill(none)',
    ("mean",),
    alias="$tag_customer",
)
CONTRIBUTIONS = Query(
    f'SELECT mean(*) FROM "customer_risk" WHERE {TENANT} AND {CUSTOMER} AND $timeFilter'
    " GROUP BY time($__interval) fill(none)",
    ("mean_risk_index",),
)
SENSORS = Query(
    f'SELECT mean(*) FROM "telemetry" WHERE {TENANT} AND {ASSET} AND $timeFilter'
    " GROUP BY time($__interval) fill(none)",
    (),  # one mean_<sensor> column per sensor the asset has
)
ASSET_HEALTH = Query(
    'SELECT mean("anomaly_score") AS "anomaly_score", mean("failure_probability") AS "failure_probability"'
    f' FROM "asset_health" WHERE {TENANT} AND {ASSET} AND $timeFilter GROUP BY time($__interval) fill(none)',
    ("anomaly_score", "failure_probability"),
)
PREDICTED_FAILURE = Query(
    'SELECT mean("ttf_hours") AS "ttf_hours", mean("ttf_low_hours") AS "ttf_low_hours",'
    ' mean("ttf_high_hours") AS "ttf_high_hours"'
    f' FROM "asset_health" WHERE {TENANT} AND {ASSET} AND $timeFilter GROUP BY time($__interval) fill(none)',
    ("ttf_hours", "ttf_low_hours", "ttf_high_hours"),
)
RECENT_RECOMMENDATIONS = Query(
    'SELECT "priority_score", "confidence", "assets", "sla_due_hours", "window_hours" FROM "recommendation"'
    f' WHERE {TENANT} AND $timeFilter GROUP BY "customer", "asset", "priority"',
    ("priority_score", "confidence", "assets", "sla_due_hours", "window_hours"),
    table=True,
)
SENSOR_CHECKS = Query(  # recommendations of kind sensor_check: a sensor misreads, the machine may be fine
    'SELECT "confidence" FROM "recommendation"'
    f' WHERE {TENANT} AND "kind" = \'sensor_check\' AND $timeFilter GROUP BY "customer", "asset", "sensor"',
    ("confidence",),
    table=True,
)
CAPACITY_WAITING = Query(  # the technicians' plan after each planning pass (predictor/capacity.py)
    'SELECT last("waiting") AS "waiting", last("booked") AS "booked" FROM "capacity"'
    f" WHERE {TENANT} AND $timeFilter GROUP BY time($__interval) fill(none)",
    ("waiting", "booked"),
)
VISITS_WAITING = Query(  # each visit's latest place in the plan: overbooked 1 = waiting for capacity
    'SELECT last("overbooked") AS "overbooked", last("rank") AS "rank", last("harm") AS "harm",'
    ' last("start_in_hours") AS "start_in_hours" FROM "visit_capacity"'
    f' WHERE {TENANT} AND {CUSTOMER} AND $timeFilter GROUP BY "customer", "asset", "recommendation"',
    ("overbooked", "rank", "harm", "start_in_hours"),
    table=True,
)

# asset_status is written at each change only: the newest change up to the range's end, however
# long ago, so an asset offline for longer than the range stays listed (the row's time: since when).
ASSETS_ONLINE = Query(
    'SELECT last("online") AS "online" FROM "asset_status"'
    f' WHERE {TENANT} AND time <= ${{__to}}ms GROUP BY "asset", "customer"',
    ("online",),
    table=True,
)
INGEST_REJECTIONS = Query(
    f'SELECT sum("count") AS "rejected" FROM "ingest_rejections" WHERE {TENANT} AND $timeFilter'
    ' GROUP BY time($__interval), "reason" fill(none)',
    ("rejected",),
    alias="$tag_reason",
)
INCIDENTS = Query(
    'SELECT sum("count") AS "incidents", sum("duration_min") AS "minutes" FROM "incident"'
    f' WHERE {TENANT} AND $timeFilter GROUP BY "customer", "segment", "kind"',
    ("incidents", "minutes"),
    table=True,
)
SURVEY_SCORES = Query(
    'SELECT mean("score") AS "score", count("score") AS "responses" FROM "feedback"'
    f' WHERE {TENANT} AND $timeFilter GROUP BY "customer", "segment", "kind"',
    ("score", "responses"),
    table=True,
)
CONTRACTS = Query(
    'SELECT sum("count") AS "contracts" FROM "contract"'
    f' WHERE {TENANT} AND $timeFilter GROUP BY "customer", "segment", "kind"',
    ("contracts",),
    table=True,
)
VISIT_OUTCOMES = Query(
    'SELECT count("fault_found") AS "visits", sum("fault_found") AS "failures_prevented" FROM "visit_outcome"'
    f" WHERE {TENANT} AND $timeFilter GROUP BY time($__interval) fill(none)",
    ("visits", "failures_prevented"),
)
FAILURES = Query(
    f'SELECT sum("count") AS "failures" FROM "failure" WHERE {TENANT} AND $timeFilter'
    " GROUP BY time($__interval) fill(none)",
    ("failures",),
)

# Each recommendation a marker on the dashboards' time axis (provisioned with them: no push needed)
RECOMMENDATION_MARKS = Query(
    'SELECT "priority_score", "customer", "asset", "priority" FROM "recommendation"'
    f" WHERE {TENANT} AND $timeFilter",
    ("priority_score", "customer", "asset", "priority"),
    table=True,
)

QUERIES = {name: value for name, value in globals().items() if isinstance(value, Query) and name.isupper()}


def _timeseries(title: str, query: Query, unit: str = "") -> timeseries.Panel:
    panel = (
        timeseries.Panel().title(title).datasource(DATASOURCE).with_target(query.target()).height(8).span(12)
    )
    return panel.unit(unit) if unit else panel


def _table(title: str, query: Query, link: str | None = None) -> table.Panel:
    """A table; ``link`` (``customer`` or ``asset``) makes each row open the board on its value."""
    panel = table.Panel().title(title).datasource(DATASOURCE).with_target(query.target()).height(8).span(12)
    if link is None:
        return panel
    return panel.data_links([board_link(link)])


RISK_COLUMN = "Failure within 48 h"
INDEX_COLUMN = "Negative outcome within 30 d"
# The Experience index is a probability in percent: orange from the tenant threshold's default
# (predictor.experience.DEFAULT_THRESHOLD_PERCENT: more likely than not), red from the alert's
# (alerts.RISK_INDEX); tests/grafana keeps the three in step.
INDEX_WARN, INDEX_ALERT = 50.0, 70.0


def _index_steps() -> db.ThresholdsConfig:
    return steps((None, "green"), (INDEX_WARN, "orange"), (INDEX_ALERT, "red"))


def _risk_ranking() -> table.Panel:
    """Customers likeliest to have a negative outcome first, coloured by the thresholds."""
    return merged(
        _table("Experience index ranking (newest per customer)", RISK_RANKING, "customer"),
        INDEX_COLUMN,
        descending=True,
    ).override_by_name("risk_index", field("percent", _index_steps(), INDEX_COLUMN))


def _risk_over_time() -> timeseries.Panel:
    """The index with the threshold's and the alert's lines."""
    line = common_builders.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.DASHED)
    return (
        _timeseries("Experience index over time: negative outcome within 30 days", RISK_OVER_TIME, "percent")
        .thresholds(_index_steps())
        .thresholds_style(line)
    )


def _assets_at_risk() -> table.Panel:
    """Likeliest to fail first; each row opens the asset's dashboard, or the board."""
    return (
        merged(_table("Assets at risk", ASSETS_AT_RISK), RISK_COLUMN, descending=True)
        .data_links([asset_drilldown(), board_link("asset")])
        .override_by_name("Time", field("dateTimeFromNow", name="Health from"))
        .override_by_name(
            "failure_probability",
            field("percentunit", steps((None, "green"), (0.5, "orange"), (0.8, "red")), RISK_COLUMN),
        )
        .override_by_name(
            "ttf_hours",
            field("h", steps((None, "red"), (24, "orange"), (48, "green")), "Time to failure"),
        )
        .override_by_name(
            "anomaly_score",
            field("percentunit", steps((None, "green"), (0.7, "orange"), (0.9, "red")), "Anomaly score"),
        )
    )


def _assets_online() -> table.Panel:
    """Offline first, with the time of the change (since when)."""
    return (
        merged(_table("Online and offline, since when", ASSETS_ONLINE), "online", descending=False)
        .data_links([asset_drilldown(), board_link("asset")])
        .override_by_name("Time", field("dateTimeFromNow", name="Since"))
        .override_by_name(
            "online", field("none", steps((None, "red"), (1, "green")), "Online (1) or offline (0)")
        )
    )


def _dashboard(uid: str, title: str, variables: tuple[str, ...], board_url: str) -> db.Dashboard:
    out = (
        db.Dashboard(title)
        .uid(uid)
        .tags([TAG])
        .time("now-2d", "now")
        .refresh("1m")
        .readonly()
        .link(other_dashboards())
    )
    marks = RECOMMENDATION_MARKS.text
    if "asset" in variables:
        marks = marks.replace("$timeFilter", f"{ASSET} AND $timeFilter")
    out = out.annotation(
        InfluxAnnotationBuilder(
            InfluxAnnotation(
                "Recommendations", marks, text="asset", tags="priority,customer", colour="orange"
            )
        )
    )
    for name in variables:
        out = out.with_variable(VARIABLES[name])
    board = db.ConstantVariable("board").label("Dispatcher board").value(board_url)
    return out.with_variable(board)


def dashboards(board_url: str = BOARD_URL) -> dict[str, db.Dashboard]:
    fleet = (
        _dashboard("forestall-fleet", "Forestall · Fleet", ("tenant",), board_url)
        .with_panel(_assets_at_risk())
        .with_panel(_timeseries("Anomaly overview", ANOMALY_OVERVIEW, "percentunit"))
        .with_panel(_assets_online())
        .with_panel(_timeseries("Ingest rejections by reason", INGEST_REJECTIONS))
        .with_panel(_timeseries("Recommendations opened", RECOMMENDATIONS_OPENED))
    )
    experience = (
        _dashboard(
            "forestall-experience", "Forestall · Customer experience", ("tenant", "customer"), board_url
        )
        .with_panel(_risk_ranking())
        .with_panel(_risk_over_time())
        .with_panel(
            _timeseries(
                "Contributions over time (base rate and drivers add up to the index)",
                CONTRIBUTIONS,
                "percent",
            )
        )
        .with_panel(_table("Incidents per customer and segment", INCIDENTS, "customer"))
        .with_panel(
            _table("Survey scores (CSAT, NPS, CES) per customer and segment", SURVEY_SCORES, "customer")
        )
        .with_panel(_table("Contracts ended or downgraded per customer and segment", CONTRACTS, "customer"))
        .with_panel(
            _table(
                "Visits and technician capacity: overbooked 1 = waiting (no slot before the failure),"
                " rank, harm, hours to the slot",
                VISITS_WAITING,
                "asset",
            )
        )
        .with_panel(_timeseries("Visits waiting for capacity, and booked", CAPACITY_WAITING))
    )
    asset = (
        _dashboard("forestall-asset", "Forestall · Asset", ("tenant", "asset"), board_url)
        .with_panel(_timeseries("Sensors", SENSORS))
        .with_panel(_timeseries("Anomaly score and failure probability", ASSET_HEALTH, "percentunit"))
        .with_panel(_timeseries("Predicted time to failure and its band", PREDICTED_FAILURE, "h"))
    )
    visits = (
        _dashboard(VISITS_UID, "Forestall · Visits", ("tenant",), board_url)
        .with_panel(
            _table(
                "Recommended visits: priority, hours from opening to SLA due and to window end",
                RECENT_RECOMMENDATIONS,
                "asset",
            )
        )
        .with_panel(_timeseries("Recommendations opened", RECOMMENDATIONS_OPENED))
        .with_panel(
            _table(
                "Sensor checks: the sensor that misreads and how sure (not failure visits)",
                SENSOR_CHECKS,
                "asset",
            )
        )
        .with_panel(_timeseries("Visits waiting for capacity, and booked", CAPACITY_WAITING))
        .with_panel(_timeseries("Visit outcomes and failures prevented", VISIT_OUTCOMES))
        .with_panel(_timeseries("Unplanned failures", FAILURES))
    )
    return {"fleet": fleet, "experience": experience, "asset": asset, "visits": visits}


def dashboard_json(builder: db.Dashboard) -> dict[str, Any]:
    result: dict[str, Any] = built_json(builder)
    return result
