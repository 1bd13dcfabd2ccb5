"""The dashboards in code: the provisioning files are what the code writes, and every panel's
InfluxQL runs against a real InfluxDB 1.6 that ``forestall demo`` filled through the store's v1
mode, with Grafana's macros substituted — returning the columns its panel plots and the values
the stored points imply."""

from __future__ import annotations

import io
import json
import math
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as alerting_model
from grafana_foundation_sdk.models import dashboard as model
from sqlalchemy import func, select

from forestall.broker import free_port
from forestall.contract import parse_ts
from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.models import Asset, Event, Recommendation
from grafana.alerts import FAILURE_PROBABILITY, RISK_INDEX, RULES, rule_group
from grafana.build import PROVISIONING
from grafana.dashboards import QUERIES, dashboard_json, dashboards
from grafana.operations import PLATFORM_RULES
from grafana.queries import InfluxQuery
from predictor.engine import Predictor
from programs.cli import main
from programs.demo import TENANT, Demo, DemoOptions
from simulators.apiclient import ApiClient, ApiError
from tests.ingest.conftest import InfluxDB1
from tests.support import as_grafana_sends

Rows = list[dict[str, Any]]


def test_the_provisioning_files_are_what_the_code_writes(tmp_path: Path) -> None:
    assert main(["grafana", "build", "--check"]) == 0  # the files in grafana/provisioning
    assert main(["grafana", "build", "--out", str(tmp_path)]) == 0
    stale = tmp_path / "dashboards" / "forestall" / "fleet.json"
    stale.write_text(stale.read_text().replace("Assets at risk", "Edited by hand"))
    assert main(["grafana", "build", "--check", "--out", str(tmp_path)]) == 1


def test_every_query_is_on_a_panel_and_every_target_is_one_of_the_queries() -> None:
    texts = {query.text for query in QUERIES.values()}
    used = set()
    for builder in dashboards().values():
        board = builder.build()
        assert board.uid and board.uid.startswith("forestall-")
        for panel in board.panels or []:
            for target in getattr(panel, "targets", None) or []:
                assert isinstance(target, InfluxQuery)
                assert target.query in texts
                used.add(target.query)
        as_json = dashboard_json(builder)
        assert as_json["templating"]["list"][0]["name"] == "tenant"
        linked = [
            link["url"]
            for panel in as_json["panels"]
            for link in panel.get("fieldConfig", {}).get("defaults", {}).get("links", [])
        ]
        board_link = r"\$\{board\}/\?(customer|asset)=\$\{__data\.fields\.\1\}"
        drilldown = (
            r"/d/forestall-asset/forestall-asset\?\$\{tenant:queryparam\}"
            r"&var-asset=\$\{__data\.fields\.asset\}&\$\{__url_time_range\}"
        )
        assert all(re.fullmatch(board_link, u) or re.fullmatch(drilldown, u) for u in linked)
        assert as_json["templating"]["list"][-1]["name"] == "board"
        # each links to every other Forestall dashboard (Grafana lists them by tag), keeping time
        [others] = as_json["links"]
        assert (others["type"], others["tags"], others["keepTime"]) == ("dashboards", ["forestall"], True)
        assert "forestall" in as_json["tags"]
        # recommendations are marked by an InfluxQL annotation query, provisioned with the dashboard
        [marks] = as_json["annotations"]["list"]
        assert marks["target"]["query"] == marks["query"]
        if marks["query"] == QUERIES["RECOMMENDATION_MARKS"].text:
            used.add(marks["query"])
        else:  # the Asset dashboard's: its asset's only
            assert marks["query"] == QUERIES["RECOMMENDATION_MARKS"].text.replace(
                "$timeFilter", '"asset" =~ /^$asset$/ AND $timeFilter'
            )
        assert (marks["textColumn"], marks["tagsColumn"]) == ("asset", "priority,customer")
        # what was written reads back through the SDK's own model unchanged (the annotation's
        # InfluxQL fields aside: the SDK's annotation target has none)
        without_marks = {**as_json, "annotations": {"list": []}}
        assert (
            json.loads(json.dumps(model.Dashboard.from_json(without_marks), cls=JSONEncoder)) == without_marks
        )
    assert used == texts
    board = dashboard_json(dashboards("https://board.example")["fleet"])["templating"]["list"][-1]
    assert (board["type"], board["query"]) == ("constant", "https://board.example")
    # the provisioned files hold the placeholder grafana/entrypoint.sh fills in
    fleet = json.loads((PROVISIONING / "dashboards" / "forestall" / "fleet.json").read_text())
    assert fleet["templating"]["list"][-1]["query"] == "${FORESTALL_BOARD_URL}"
    tables = [p for b in dashboards().values() for p in dashboard_json(b)["panels"] if p["type"] == "table"]
    assert all(p["fieldConfig"]["defaults"].get("links") for p in tables)  # every table opens the board


def test_the_alert_rules_validate_against_the_sdk_and_route_to_the_visit_endpoint() -> None:
    group = json.loads(json.dumps(rule_group().build(), cls=JSONEncoder))
    assert json.loads(json.dumps(alerting_model.RuleGroup.from_json(group), cls=JSONEncoder)) == group
    written = yaml.safe_load((PROVISIONING / "alerting" / "forestall.yaml").read_text())
    groups = {g["name"]: {r["uid"]: r for r in g["rules"]} for g in written["groups"]}
    rules = groups["forestall-visits"]
    assert set(rules) == {spec.uid for spec in RULES}
    for spec in RULES:
        refs = [q["refId"] for q in rules[spec.uid]["data"]]
        assert refs == ["A", "B", "C"] and rules[spec.uid]["condition"] == "C"
        assert rules[spec.uid]["data"][0]["model"]["query"] == spec.query
        assert rules[spec.uid]["data"][2]["model"]["conditions"][0]["evaluator"]["params"] == [spec.threshold]
        # a dead worker or store must not open visits: no data and errors are OK, never Alerting
        assert (rules[spec.uid]["noDataState"], rules[spec.uid]["execErrState"]) == ("OK", "OK")
    platform = groups["forestall-platform"]
    assert set(platform) == {spec.uid for spec in PLATFORM_RULES}
    for rule in platform.values():  # a dead pipeline fires them
        assert (rule["noDataState"], rule["execErrState"]) == ("Alerting", "Alerting")
        assert rule["labels"] == {"forestall": "platform"}
    visits, operators = written["contactPoints"]
    settings = visits["receivers"][0]["settings"]
    assert settings["url"] == "$FORESTALL_ALERT_URL" and settings["authorization_scheme"] == "Bearer"
    assert operators["receivers"][0]["type"] == "email"
    assert operators["receivers"][0]["settings"] == {"addresses": "$FORESTALL_OPS_EMAIL"}
    [policy] = written["policies"]
    assert policy["receiver"] not in (visits["name"], operators["name"])  # others keep Grafana's default
    assert [(r["receiver"], r["object_matchers"]) for r in policy["routes"]] == [
        (visits["name"], [["forestall", "=", "visit"]]),
        (operators["name"], [["forestall", "=", "platform"]]),
    ]
    assert all(r["labels"] == {"forestall": "visit"} for r in rules.values())
    sources = yaml.safe_load((PROVISIONING / "datasources" / "forestall.yaml").read_text())["datasources"]
    assert {(d["uid"], d["type"]) for d in sources} == {
        ("forestall-influxdb", "influxdb"),
        ("forestall-victoriametrics", "prometheus"),
    }


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InfluxDB1, str, tuple[float, float]]]:
    """InfluxDB 1.6 with 80 simulated hours of the demo fleet (seed 7), written by the worker's
    InfluxDB store in v1 mode; the state DB's URL and the data's time range."""
    folder = tmp_path_factory.mktemp("grafana")
    server = InfluxDB1(folder / "influxdb")
    try:
        server.query("CREATE DATABASE forestall")
        config = folder / "forestall.toml"
        config.write_text(
            f'[store]\nkind = "influxdb"\n[influxdb]\nurl = "{server.url}"\napi = "v1"\n'
            'bucket = "forestall"\nflush_interval_s = 0.2\n'
        )
        options = DemoOptions(
            seconds=40.0,
            speed=7200.0,
            assets=16,
            customers=4,
            seed=7,
            api_port=free_port(),
            data_dir=folder / "demo",
            config=config,
        )
        out = io.StringIO()
        technician = Technician(out, options.api_port, after_hours=20.0)
        technician.start()
        Demo(options, out=out, err=io.StringIO()).run()
        technician.join(timeout=5.0)
        assert technician.reported, "the technician could not report a failure during the demo"
        times = [
            row["time"]
            for row in server.rows(f"SELECT anomaly_score FROM asset_health WHERE tenant = '{TENANT}'")
        ]
        assert len(times) > 100, "the demo wrote too little to check the panels on"
        yield server, f"sqlite:///{folder / 'demo' / 'state.db'}", (min(times), max(times))
    finally:
        server.stop()


class Technician(threading.Thread):
    """Some way into the demo, reports through ``POST /v1/maintenance-events`` that its first
    asset failed (repaired an hour later): that asset's type then knows a failure, so the
    predicted-failure panel has times to show however many of the demo's own faults are caught."""

    def __init__(self, out: io.StringIO, api_port: int, after_hours: float) -> None:
        super().__init__(daemon=True)
        self.out, self.url, self.after_s = out, f"http://127.0.0.1:{api_port}", after_hours * 3600.0
        self.reported: str | None = None

    def run(self) -> None:
        deadline = time.monotonic() + 60.0
        key = None
        while key is None and time.monotonic() < deadline:
            found = re.search(r"admin API key: (\S+)", self.out.getvalue())
            key = found.group(1) if found else None
            time.sleep(0.1)
        if key is None:
            return
        client = ApiClient(self.url, key)
        first = None
        try:
            while time.monotonic() < deadline and self.reported is None:
                try:
                    asset = client.request("GET", "/v1/assets?limit=1")["items"][0]["id"]
                    at = parse_ts(client.request("GET", f"/v1/assets/{asset}/health")["at"])
                    first = at if first is None else first
                    if at - first >= self.after_s:
                        client.post_maintenance_event(asset, "failure", at)
                        client.post_maintenance_event(asset, "repair", at + 3600.0)
                        self.reported = asset
                except (ApiError, IndexError):
                    pass  # not up, not scored yet, or busy: ask again
                time.sleep(0.2)
        finally:
            client.close()


CHECKED: set[str] = set()


def _panel(server: InfluxDB1, name: str, span: tuple[float, float], interval: str, **variables: str) -> Rows:
    """The panel's query as Grafana sends it, run."""
    CHECKED.add(name)
    return server.rows(as_grafana_sends(QUERIES[name].text, span, interval, **variables))


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def test_every_panel_query_returns_what_the_stored_points_imply(
    loaded: tuple[InfluxDB1, str, tuple[float, float]],
) -> None:
    server, state_url, _health_span = loaded
    whole = "10000d"  # one bucket over all of it (buckets start at epoch multiples: 2024-10-17 here)
    health = server.rows(f"SELECT * FROM asset_health WHERE tenant = '{TENANT}'")
    risk = server.rows(f"SELECT * FROM customer_risk WHERE tenant = '{TENANT}'")
    recs = server.rows(f"SELECT * FROM recommendation WHERE tenant = '{TENANT}'")
    with make_sessionmaker(make_engine(state_url))() as session:
        facts = session.scalars(select(Event).where(Event.tenant == TENANT)).all()
        statuses = {
            a.id for a in session.scalars(select(Asset).where(Asset.tenant == TENANT)) if a.online is not None
        }
    times = [r["time"] for r in health + risk + recs] + [e.occurred_at for e in facts]
    span = (min(times) - 1, max(times) + 1)  # the dashboard's time range: all of it
    by_asset: dict[str, Rows] = defaultdict(list)
    for row in health:
        by_asset[row["asset"]].append(row)
    by_customer: dict[str, Rows] = defaultdict(list)
    for row in risk:
        by_customer[row["customer"]].append(row)
    asset = max(by_asset, key=lambda a: max(r["failure_probability"] or 0.0 for r in by_asset[a]))
    customer = sorted(by_customer)[0]

    # Fleet: the newest health of every asset
    at_risk = _panel(server, "ASSETS_AT_RISK", span, whole, tenant=TENANT)
    assert {r["asset"] for r in at_risk} == set(by_asset)
    for row in at_risk:
        newest = max(by_asset[row["asset"]], key=lambda r: r["time"])
        assert _close(row["failure_probability"], newest["failure_probability"])
        assert _close(row["anomaly_score"], newest["anomaly_score"])
    overview = _panel(server, "ANOMALY_OVERVIEW", span, whole, tenant=TENANT)
    assert {r["asset"]: r["max"] for r in overview if r["max"] is not None} == pytest.approx(
        {a: max(r["anomaly_score"] for r in rows) for a, rows in by_asset.items()}
    )

    # Visits: as many recommendations as the state DB opened
    with make_sessionmaker(make_engine(state_url))() as session:
        opened = session.scalar(
            select(func.count()).select_from(Recommendation).where(Recommendation.tenant == TENANT)
        )
    assert opened and len(recs) == opened
    marks = _panel(server, "RECOMMENDATION_MARKS", span, whole, tenant=TENANT)
    assert len(marks) == opened and all({"asset", "customer", "priority"} <= set(r) for r in marks)
    counted = _panel(server, "RECOMMENDATIONS_OPENED", span, "1h", tenant=TENANT)
    assert sum(r["count"] for r in counted) == opened
    assert {r["priority"] for r in counted} == {r["priority"] for r in recs}
    with make_sessionmaker(make_engine(state_url))() as session:
        due = {
            (r.asset_ids[0], round(r.created_at)): (r.sla_due_at - r.created_at) / 3600
            for r in session.scalars(select(Recommendation).where(Recommendation.tenant == TENANT))
        }
    listed = _panel(server, "RECENT_RECOMMENDATIONS", span, whole, tenant=TENANT)
    assert {(r["asset"], round(r["time"])): r["sla_due_hours"] for r in listed} == pytest.approx(due)
    assert len(listed) == opened and all(
        set(QUERIES["RECENT_RECOMMENDATIONS"].columns) <= set(r) for r in listed
    )
    with make_sessionmaker(make_engine(state_url))() as session:
        checks = {
            (r.asset_ids[0], r.reason["sensor"]["channel"])
            for r in session.scalars(
                select(Recommendation).where(
                    Recommendation.tenant == TENANT, Recommendation.kind == "sensor_check"
                )
            )
        }
    sensor_checks = _panel(server, "SENSOR_CHECKS", span, whole, tenant=TENANT)
    assert {(r["asset"], r["sensor"]) for r in sensor_checks} == checks

    # Customer experience: ranking, risk over time, contributions
    ranking = _panel(server, "RISK_RANKING", span, whole, tenant=TENANT)
    assert {r["customer"]: r["risk_index"] for r in ranking} == pytest.approx(
        {c: max(rows, key=lambda r: r["time"])["risk_index"] for c, rows in by_customer.items()}
    )
    over_time = _panel(server, "RISK_OVER_TIME", span, whole, tenant=TENANT, customer=customer)
    assert [r["mean"] for r in over_time] == pytest.approx(
        [sum(r["risk_index"] for r in by_customer[customer]) / len(by_customer[customer])]
    )
    contributions = _panel(server, "CONTRIBUTIONS", span, whole, tenant=TENANT, customer=customer)
    fields = {k for r in by_customer[customer] for k in r} - {"time", "tenant", "customer"}
    assert {k for k in contributions[0] if k.startswith("mean_")} == {f"mean_{f}" for f in fields}
    assert contributions[0]["mean_risk_index"] == pytest.approx(over_time[0]["mean"])

    # Asset: its sensors, its health, its predicted failure and band
    readings = server.rows(f"SELECT * FROM telemetry WHERE tenant = '{TENANT}' AND asset = '{asset}'")
    sensors = {k for r in readings for k, v in r.items() if isinstance(v, float)} - {"time"}
    mean_sensors = _panel(server, "SENSORS", span, whole, tenant=TENANT, asset=asset)
    plotted = {k[5:] for k, v in mean_sensors[0].items() if k.startswith("mean_") and v is not None}
    assert len(mean_sensors) == 1 and plotted == sensors  # other types' sensors come back empty
    some = sorted(sensors)[0]
    values = [r[some] for r in readings if r.get(some) is not None]
    assert mean_sensors[0][f"mean_{some}"] == pytest.approx(sum(values) / len(values))
    own = by_asset[asset]
    mean_health = _panel(server, "ASSET_HEALTH", span, whole, tenant=TENANT, asset=asset)
    assert mean_health[0]["failure_probability"] == pytest.approx(
        sum(r["failure_probability"] for r in own) / len(own)
    )
    with_ttf = [r["asset"] for r in health if r.get("ttf_hours") is not None]
    assert with_ttf, "no asset of the demo has a predicted failure time"
    predicted = max(set(with_ttf), key=with_ttf.count)
    hourly = _panel(server, "PREDICTED_FAILURE", span, "1h", tenant=TENANT, asset=predicted)
    banded = [r for r in hourly if r["ttf_hours"] is not None]
    hours = {r["time"] // 3600 for r in by_asset[predicted] if r.get("ttf_hours") is not None}
    assert len(banded) == len(hours)
    assert all(r["ttf_low_hours"] <= r["ttf_hours"] <= r["ttf_high_hours"] for r in banded)
    # what the worker wrote of the state DB's facts: liveness, incidents, surveys, outcomes, failures
    # the events the worker had read when the demo stopped (a simulator may post after its last chunk)
    checkpoint = Predictor.load(
        Path(state_url.removeprefix("sqlite:///")).parent / "checkpoints" / "worker-0-of-1.pkl"
    )
    assert checkpoint is not None
    read = [e for e in facts if e.id <= checkpoint.event_cursor]
    kinds = Counter(e.kind for e in read)
    assert kinds["incident"] and kinds["feedback"], f"the demo recorded too little to check: {kinds}"
    online = _panel(server, "ASSETS_ONLINE", span, whole, tenant=TENANT)
    assert {r["asset"] for r in online} == statuses and all(r["online"] in (0.0, 1.0) for r in online)
    incidents = _panel(server, "INCIDENTS", span, whole, tenant=TENANT)
    assert sum(r["incidents"] for r in incidents) == kinds["incident"]  # also two outages at one instant
    surveys = _panel(server, "SURVEY_SCORES", span, whole, tenant=TENANT)
    assert sum(r["responses"] for r in surveys) == kinds["feedback"]
    scores = defaultdict(list)
    for e in read:
        if e.kind == "feedback":
            scores[(e.customer_id, e.data["kind"])].append(e.data["score"])
    assert {(r["customer"], r["kind"]): r["score"] for r in surveys} == pytest.approx(
        {key: sum(v) / len(v) for key, v in scores.items()}
    )
    # the demo's customers end no contract (test_influx_store charts some)
    contracts = _panel(server, "CONTRACTS", span, whole, tenant=TENANT)
    assert sum(r["contracts"] for r in contracts) == kinds["contract"]
    outcomes = _panel(server, "VISIT_OUTCOMES", span, whole, tenant=TENANT)
    found = [e for e in read if e.kind == "outcome"]
    assert found, "the demo's FSM reported no visit"
    assert sum(r["visits"] for r in outcomes) == len(found)
    assert sum(r["failures_prevented"] for r in outcomes) == sum(1 for e in found if e.data["fault_found"])
    failures = _panel(server, "FAILURES", span, whole, tenant=TENANT)
    failed = sum(1 for e in read if e.kind == "maintenance" and e.data.get("kind") == "failure")
    assert sum(r["failures"] or 0 for r in failures) == failed
    # the demo's devices send nothing bad (a real worker's rejections: test_influx_store)
    assert _panel(server, "INGEST_REJECTIONS", span, whole, tenant=TENANT) == []

    # the demo registers its world's technicians: each planning pass charts the visits waiting and
    # booked, and each planned visit its place (test_influx_store checks the figures of one plan)
    plans = _panel(server, "CAPACITY_WAITING", span, whole, tenant=TENANT)
    assert plans and all(float(r[k]).is_integer() and r[k] >= 0 for r in plans for k in ("waiting", "booked"))
    with make_sessionmaker(make_engine(state_url))() as session:
        own_visits = {
            r.id
            for r in session.scalars(
                select(Recommendation).where(
                    Recommendation.tenant == TENANT, Recommendation.customer_id == customer
                )
            )
        }
    placed = _panel(server, "VISITS_WAITING", span, whole, tenant=TENANT, customer=customer)
    assert {r["recommendation"] for r in placed} <= own_visits
    assert all(r["overbooked"] in (0, 1) and r["rank"] >= 1 for r in placed)

    assert set(QUERIES) == CHECKED  # every panel's query was run above

    # the alert rules' queries: the newest value of each series of the last hour, with its labels
    hour = (max(times) - 3600, max(times) + 1)
    for spec, rows, key in ((FAILURE_PROBABILITY, health, "asset"), (RISK_INDEX, risk, "customer")):
        answered = server.rows(as_grafana_sends(spec.query, hour, "1h"))
        field = spec.columns[0]
        recent: dict[str, dict[str, Any]] = {}
        for row in sorted(rows, key=lambda r: r["time"]):  # the newest last, so it stays
            if hour[0] <= row["time"] <= hour[1] and row.get(field) is not None:
                recent[row[key]] = row
        assert {r[key]: r[field] for r in answered} == pytest.approx({k: r[field] for k, r in recent.items()})
        assert all(r["tenant"] == TENANT for r in answered)


def test_the_template_variables_list_what_was_stored(
    loaded: tuple[InfluxDB1, str, tuple[float, float]],
) -> None:
    server, _state, _span = loaded
    tenants = server.rows('SHOW TAG VALUES FROM "asset_health" WITH KEY = "tenant"')
    assert [r["value"] for r in tenants] == [TENANT]
    for builder in dashboards().values():
        for variable in dashboard_json(builder)["templating"]["list"]:
            if variable["type"] != "query":  # the board's address is a constant
                continue
            query = variable["query"].replace("$tenant", TENANT)
            values = [r["value"] for r in server.rows(query)]
            assert values, f"variable {variable['name']} lists nothing"
