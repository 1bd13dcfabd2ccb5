"""``forestall grafana push`` against a double of Grafana's API that records every request, and a
real InfluxDB 1.6 with authentication: an organisation per tenant whose datasource credential
reads its tenant's database and cannot read another's; a second push changes nothing; an
organisation provisioned from files is refused."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from forestall.contract import Sample
from forestall.series import SeriesTags
from forestall.settings import InfluxSettings
from forestall.state.db import make_engine, make_sessionmaker, upgrade
from forestall.state.keys import lookup_key
from forestall.state.models import Recommendation
from grafana.alerts import RULES
from grafana.build import PROVISIONING
from grafana.dashboards import dashboard_json, dashboards
from grafana.push import reader_for
from ingest.store.influxdb import InfluxStore
from programs.cli import main
from tests.grafana.grafana_double import ADMIN, TOKEN, GrafanaDouble
from tests.ingest.conftest import InfluxDB1, influxdb2_settings, needs_influxdb2

INFLUX_ADMIN = ("forestall", "influx-admin-password")
ALERT_URL = "http://api:8000/v1/integrations/grafana"
NOW = 1_795_460_400.0
TENANTS = ("acme", "globex")


@pytest.fixture
def grafana() -> Iterator[GrafanaDouble]:
    double = GrafanaDouble()
    yield double
    double.close()


@pytest.fixture
def secured_influx(tmp_path: Path) -> Iterator[InfluxDB1]:
    server = InfluxDB1(tmp_path / "influxdb", admin=INFLUX_ADMIN)
    yield server
    server.stop()


def _config(tmp_path: Path, influx: InfluxDB1, state_url: str) -> Path:
    config = tmp_path / "forestall.toml"
    config.write_text(
        f'database_url = "{state_url}"\n[influxdb]\nurl = "{influx.url}"\napi = "v1"\nbucket = "forestall"\n'
        f'username = "{INFLUX_ADMIN[0]}"\npassword = "{INFLUX_ADMIN[1]}"\ntenant_buckets = true\n'
    )
    return config


def _admin_settings(influx: InfluxDB1) -> InfluxSettings:
    """The store's settings against ``influx``: its admin credential, a database per tenant."""
    return InfluxSettings(
        url=influx.url, api="v1", username=INFLUX_ADMIN[0], password=INFLUX_ADMIN[1], tenant_buckets=True
    )


def _state_db(tmp_path: Path, recommendations: list[Recommendation]) -> str:
    """A migrated SQLite state DB holding ``recommendations``; its URL."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url)
    with make_sessionmaker(make_engine(url)).begin() as session:
        session.add_all(recommendations)
    return url


def _recommendation(tenant: str, n: int) -> Recommendation:
    at = NOW + 3600 * n
    return Recommendation(
        id=f"rec-{tenant}-{n}",
        tenant=tenant,
        customer_id=f"{tenant}-customer",
        asset_ids=[f"pump-{n}"],
        status="open",
        priority="P2",
        priority_score=0.7,
        reason={},
        confidence=0.8,
        window_start=at,
        window_end=at + 86400,
        sla_due_at=at + 86400,
        fits_sla=True,
        risk_index=55.0,
        created_at=at,
        updated_at=at,
    )


def _push(
    config: Path, grafana: GrafanaDouble, *extra: str, capsys: pytest.CaptureFixture[str]
) -> list[dict[str, object]]:
    argv = ["grafana", "push", "--url", grafana.url, "--config", str(config), *extra]
    assert main(argv) == 0, capsys.readouterr().err
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_each_tenant_gets_an_organisation_that_reads_only_its_data(
    tmp_path: Path, secured_influx: InfluxDB1, grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str]
) -> None:
    state_url = _state_db(
        tmp_path, [_recommendation(t, n) for t in TENANTS for n in range(3 if t == "acme" else 1)]
    )
    config = _config(tmp_path, secured_influx, state_url)
    settings = _admin_settings(secured_influx)
    store = InfluxStore(settings, tmp_path / "spool.sqlite")
    try:
        for tenant in TENANTS:
            store.write_samples(SeriesTags(tenant, "pump-1", "pump"), [Sample(NOW, {"temp_c": 40.0})])
        assert store.flush(timeout=60)
    finally:
        store.close()

    tenant_args = [a for t in TENANTS for a in ("--tenant", t)] + ["--alert-url", ALERT_URL]
    admin = ["--user", ADMIN[0], "--password", ADMIN[1]]
    first = _push(config, grafana, *admin, *tenant_args, capsys=capsys)
    boards = [dashboard_json(b) for b in dashboards().values()]

    # exactly: an organisation per tenant, then in it the datasource, the dashboards (which mark
    # recommendations with their own annotation query: push writes no annotation) and the alerting
    orgs = {org.name: org_id for org_id, org in grafana.orgs.items()}
    assert set(orgs) == {"Main Org.", "Forestall acme", "Forestall globex"}
    writes = [(r.method, r.path, r.org) for r in grafana.writes()]
    expected = []
    for tenant in TENANTS:
        org = orgs[f"Forestall {tenant}"]
        expected += [("POST", "/api/orgs", 1), ("POST", "/api/datasources", org)]
        expected += [("POST", "/api/dashboards/db", org)] * len(boards)
        expected += [
            ("POST", "/api/folders", org),
            ("PUT", "/api/v1/provisioning/folder/forestall/rule-groups/forestall-visits", org),
            ("POST", "/api/v1/provisioning/contact-points", org),
            ("PUT", "/api/v1/provisioning/policies", org),
        ]
    assert writes == expected
    for tenant in TENANTS:
        org = grafana.orgs[orgs[f"Forestall {tenant}"]]
        source = org.datasources["forestall-influxdb"]
        assert (source["type"], source["url"], source["database"]) == (
            "influxdb",
            secured_influx.url,
            f"forestall_{tenant}",
        )
        assert source["user"] == f"grafana_{tenant}" and source["secureJsonData"]["password"]
        assert {
            uid: {k: v for k, v in b.items() if k not in ("id", "version")}
            for uid, b in org.dashboards.items()
        } == {b["uid"]: b for b in boards}
        assert org.annotations == []
        assert all(b["annotations"]["list"][0]["name"] == "Recommendations" for b in org.dashboards.values())
    assert next(r["created"] for r in first if r["tenant"] == "globex") == [
        "datasource forestall-influxdb",
        *[f"dashboard {b['uid']}" for b in boards],
        "folder forestall",
        "rule group forestall-visits",
        "contact point forestall-visits",
    ]

    # each organisation's alerts go to the API with a grafana key of its own tenant, and only there
    for tenant in TENANTS:
        org = grafana.orgs[orgs[f"Forestall {tenant}"]]
        [point] = org.contact_points.values()
        assert point["settings"]["url"] == ALERT_URL and point["type"] == "webhook"
        with make_sessionmaker(make_engine(state_url))() as session:
            key = lookup_key(session, point["settings"]["authorization_credentials"])
            assert key is not None and (key.tenant, key.role) == (tenant, "grafana")
        [group] = org.rule_groups.values()
        assert {r["uid"] for r in group["rules"]} == {spec.uid for spec in RULES}
        # the organisation's own policy stays; one route sends the rules' alerts (only) to the API
        assert org.policy["receiver"] == "grafana-default-email"
        [route] = org.policy["routes"]
        assert (route["receiver"], route["object_matchers"]) == (point["name"], [["forestall", "=", "visit"]])

    # a second push changes nothing
    before = len(grafana.writes())
    second = _push(config, grafana, *admin, *tenant_args, capsys=capsys)
    assert len(grafana.writes()) == before
    assert all(r["created"] == [] and r["updated"] == [] for r in second)

    # a viewer of acme's organisation, with its datasource's credential, reads acme and only acme
    source = grafana.orgs[orgs["Forestall acme"]].datasources["forestall-influxdb"]
    reader = (source["user"], source["secureJsonData"]["password"])
    own = secured_influx.query("SELECT * FROM telemetry", db="forestall_acme", auth=reader)
    assert "acme" in json.dumps(own) and "globex" not in json.dumps(own)
    for other in ("forestall_globex", "forestall"):
        with pytest.raises(httpx.HTTPStatusError) as refused:
            secured_influx.query("SELECT * FROM telemetry", db=other, auth=reader)
        assert refused.value.response.status_code == 403
    with pytest.raises(httpx.HTTPStatusError):
        secured_influx.query(f'GRANT READ ON "forestall_globex" TO "{reader[0]}"', auth=reader)
    assert reader_for(settings, "acme").password == reader[1]  # derived, not stored: the same next push


def test_without_tenants_one_organisation_gets_everything_with_a_token(
    tmp_path: Path, secured_influx: InfluxDB1, grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str]
) -> None:
    state_url = _state_db(tmp_path, [_recommendation("acme", 0), _recommendation("globex", 1)])
    config = _config(tmp_path, secured_influx, state_url)
    [report] = _push(config, grafana, "--token", TOKEN, capsys=capsys)
    assert report["tenant"] is None and len(report["created"]) == 1 + len(dashboards())  # type: ignore[arg-type]
    assert {r.org for r in grafana.requests} == {1}
    # an edited dashboard is put back; the rest is left alone
    grafana.orgs[1].dashboards["forestall-fleet"]["title"] = "edited in the UI"
    [again] = _push(config, grafana, "--token", TOKEN, capsys=capsys)
    assert again["updated"] == ["dashboard forestall-fleet"] and again["created"] == []
    # a read-only credential of its own: the datasource is updated once (its secret's fingerprint
    # changed, though Grafana never shows the secret), then left alone
    viewer = ("--token", TOKEN, "--influx-user", "viewer", "--influx-password", "v-pass")
    [changed] = _push(config, grafana, *viewer, capsys=capsys)
    assert changed["updated"] == ["datasource forestall-influxdb"]
    source = grafana.orgs[1].datasources["forestall-influxdb"]
    assert (source["user"], source["secureJsonData"]["password"]) == ("viewer", "v-pass")
    [same] = _push(config, grafana, *viewer, capsys=capsys)
    assert same["updated"] == [] and same["created"] == []


def test_a_refused_grafana_is_one_line_and_exit_2(
    tmp_path: Path, secured_influx: InfluxDB1, grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str]
) -> None:
    state_url = _state_db(tmp_path, [])
    config = _config(tmp_path, secured_influx, state_url)
    argv = ["grafana", "push", "--url", grafana.url, "--config", str(config)]
    assert main([*argv, "--token", "wrong"]) == 2
    assert "Unauthorized" in capsys.readouterr().err
    assert main([*argv, "--token", TOKEN, "--tenant", "acme"]) == 2  # organisations need an admin
    assert "server admin" in capsys.readouterr().err
    assert main([*argv, "--token", TOKEN, "--alert-url", ALERT_URL]) == 2  # whose key would alerts send?
    assert "--alert-token" in capsys.readouterr().err
    assert grafana.writes() == []


def test_an_organisation_provisioned_from_files_is_refused_and_left_alone(
    tmp_path: Path, secured_influx: InfluxDB1, grafana: GrafanaDouble, capsys: pytest.CaptureFixture[str]
) -> None:
    """Organisation 1 loaded grafana/provisioning at start: push would write the same uids and
    rule group over the files' (and Grafana would put the files' back at its next start)."""
    grafana.provision_from_files(1, PROVISIONING)
    config = _config(tmp_path, secured_influx, _state_db(tmp_path, []))
    argv = ["grafana", "push", "--url", grafana.url, "--config", str(config), "--token", TOKEN]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "provisioned from files" in err and "dashboard forestall-fleet" in err and "--tenant" in err
    alert_args = ["--alert-url", ALERT_URL, "--alert-token", "key-x"]
    grafana.orgs[1].provisioned.clear()  # dashboards pushed before; the rules still from files
    assert main([*argv, *alert_args]) == 2
    assert "rule group forestall-visits" in capsys.readouterr().err
    assert grafana.writes() == []
    # organisations of their own, per tenant, are pushed as before
    _push(config, grafana, "--user", ADMIN[0], "--password", ADMIN[1], "--tenant", "acme", capsys=capsys)
    assert {r.org for r in grafana.writes()} == {1, 2} and all(
        r.org == 2 for r in grafana.writes() if r.path != "/api/orgs"
    )


@needs_influxdb2
def test_on_influxdb2_each_tenant_gets_a_token_that_reads_its_bucket_only(tmp_path: Path) -> None:
    from influxdb_client.client.influxdb_client import InfluxDBClient
    from influxdb_client.rest import ApiException

    from grafana.readers import ensure_reader

    settings = influxdb2_settings(tenant_buckets=True)
    run = f"t{time.time_ns()}"
    tenants = (f"{run}a", f"{run}b")
    store = InfluxStore(settings, tmp_path / "spool.sqlite")
    try:
        for tenant in tenants:
            store.write_samples(
                SeriesTags(tenant, "pump-1", "pump"), [Sample(time.time() - 60, {"temp_c": 40.0})]
            )
        assert store.flush(timeout=60)
    finally:
        store.close()
    first = ensure_reader(settings, tenants[0])
    assert ensure_reader(settings, tenants[0]) == first  # found again, not made twice
    with InfluxDBClient(url=settings.url, token=first.token, org=settings.org) as client:
        own = client.query_api().query(f'from(bucket: "{first.database}") |> range(start: -1h)')
        assert [r.get_value() for t in own for r in t.records] == [40.0]
        with pytest.raises(ApiException):
            client.query_api().query(f'from(bucket: "{settings.bucket}_{tenants[1]}") |> range(start: -1h)')


def test_a_rotated_store_credential_gives_each_reader_its_new_password(
    tmp_path: Path, secured_influx: InfluxDB1
) -> None:
    """A reader's password derives from the store's admin credential: after that is rotated, the
    next push sets the reader's new one (InfluxDB refuses CREATE USER for a user it has with
    another password)."""
    from grafana.readers import ensure_reader

    settings = _admin_settings(secured_influx)
    before = ensure_reader(settings, "acme")
    secured_influx.query(f"SET PASSWORD FOR \"{INFLUX_ADMIN[0]}\" = 'rotated-admin-password'")
    after = ensure_reader(settings.model_copy(update={"password": "rotated-admin-password"}), "acme")
    assert after.username == before.username and after.password != before.password
    secured_influx.query("SHOW MEASUREMENTS", db=after.database, auth=(after.username, after.password))
