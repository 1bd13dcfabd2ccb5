"""The dispatcher board in headless Chromium renders data seeded through the API.

Saves ``test-output/board.png`` (SQLite run; ``board-postgresql.png`` for PostgreSQL).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from forestall.contract import Sample
from forestall.series import SeriesTags
from forestall.settings import Settings
from forestall.state.models import Asset, AssetHealth, Recommendation
from ingest.store import open_store
from tests.api.conftest import EVENT_NOW, Tenant

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
CUSTOMERS = [
    ("northwind", "Northwind Utilities", "enterprise", "platinum", 6),
    ("harbor", "Harbor Foods", "standard", "gold", 3),
    ("lakeside", "Lakeside Clinic", "key", "gold", 1),
    ("mill", "Old Mill Bakery", "smb", "silver", 0),
]
ASSETS = [  # id, customer, type, site, failure probability, online, top sensor
    ("pump-0042", "northwind", "pump", "north-plant", 0.86, True, "vibration_mm_s"),
    ("comp-0007", "northwind", "compressor", "north-plant", 0.41, True, "temp_c"),
    ("chiller-03", "lakeside", "chiller", "clinic-roof", 0.63, False, "temp_c"),
    ("pump-0100", "harbor", "pump", "dock-2", 0.12, True, "pressure_bar"),
    ("fan-0011", "mill", "fan", "bakery", 0.04, True, "vibration_mm_s"),
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed (Debian package: chromium)")
    return found


def seed_board(tenant: Tenant, settings: Settings) -> None:
    admin = tenant.client()
    for cid, name, segment, tier, outages in CUSTOMERS:
        customer: dict[str, Any] = {"id": cid, "name": name, "segment": segment, "sla_tier": tier}
        assert admin.post("/v1/customers", json=customer).status_code == 201
        for i in range(outages):
            incident = {
                "customer_id": cid,
                "kind": "outage",
                "opened_at": EVENT_NOW - 7200 * (i + 1),
                "duration_min": 180,
            }
            assert admin.post("/v1/incidents", json=incident).status_code == 201
    assert (
        admin.post(
            "/v1/feedback", json={"customer_id": "northwind", "kind": "nps", "score": 2, "at": EVENT_NOW}
        ).status_code
        == 201
    )
    for aid, cid, kind, site, _, _, _ in ASSETS:
        body: dict[str, Any] = {
            "id": aid,
            "customer_id": cid,
            "asset_type": kind,
            "site": site,
            "criticality": 4 if kind == "pump" else 3,
        }
        assert admin.post("/v1/assets", json=body).status_code == 201
    for assets, priority, start_h in (
        (["pump-0042"], "P1", 2),
        (["chiller-03"], "P2", 6),
        (["comp-0007"], "P3", 30),
    ):
        rec: dict[str, Any] = {
            "asset_ids": assets,
            "priority": priority,
            "window_start": EVENT_NOW + start_h * 3600,
            "window_end": EVENT_NOW + (start_h + 4) * 3600,
            "predicted_failure_at": EVENT_NOW + (start_h + 20) * 3600,
            "confidence": 0.8,
        }
        assert tenant.client("dispatcher").post("/v1/recommendations", json=rec).status_code == 201
    # What the worker and the predictor would have written: health, liveness, telemetry, and a
    # sensor check beside pump-0042's failure visit (it blocks none).
    with tenant.db.begin() as session:
        session.add(
            Recommendation(
                id=f"{tenant.name}-sensor", tenant=tenant.name, customer_id="harbor", site="dock-2",
                asset_ids=["pump-0100"], status="open", kind="sensor_check", priority="P4",
                priority_score=0.1, predicted_failure_at=None, confidence=0.9,
                reason={"summary": "sensor check: flow_m3h stuck", "top_sensors": ["flow_m3h"],
                        "sensor": {"channel": "flow_m3h", "fault": "stuck", "confidence": 0.9}},
                window_start=EVENT_NOW, window_end=EVENT_NOW + 72 * 3600, sla_due_at=EVENT_NOW + 8 * 3600,
                fits_sla=True, risk_index=20.0, created_at=EVENT_NOW, updated_at=EVENT_NOW,
            )
        )  # fmt: skip
        for aid, _, _, _, probability, online, sensor in ASSETS:
            session.add(
                AssetHealth(
                    tenant=tenant.name,
                    asset_id=aid,
                    at=EVENT_NOW,
                    anomaly_score=probability * 3,
                    failure_probability=probability,
                    ttf_hours=(1 - probability) * 400,
                    ttf_low_hours=None,
                    ttf_high_hours=None,
                    model_version="test",
                    top_sensors=[sensor],
                    drift=False,
                )
            )
            asset = session.get(Asset, (tenant.name, aid))
            assert asset is not None
            asset.online, asset.last_seen_at, asset.online_since = (
                online,
                EVENT_NOW - (0 if online else 5400),
                EVENT_NOW - 86400,
            )
        # The worker's plan with one technician: pump-0042 booked, comp-0007 waiting for capacity.
        factors = {"failure_probability": 0.8, "urgency": 0.9, "asset": 0.8, "customer_risk": 1.6,
                   "segment": 1.0, "sla": 1.15}  # fmt: skip
        plan = {"pump-0042": (False, 1, 0.76, 2), "comp-0007": (True, 2, 0.2, 60)}
        for rec in session.scalars(select(Recommendation).where(Recommendation.tenant == tenant.name)):
            if rec.asset_ids[0] in plan and rec.kind == "failure":
                overbooked, rank, harm, start_h = plan[rec.asset_ids[0]]
                start = EVENT_NOW + start_h * 3600
                rec.overbooked = overbooked
                rec.capacity = {"rank": rank, "harm": harm, "harm_factors": factors,
                                "technician_id": "tech-ana", "start": start, "end": start + 3 * 3600,
                                "at": EVENT_NOW}  # fmt: skip
    store = open_store(settings)
    try:
        for n, (aid, cid, kind, site, probability, _, sensor) in enumerate(ASSETS):
            samples = [
                Sample(
                    EVENT_NOW - 86400 + 600 * i,
                    {sensor: 50 + 10 * math.sin(i / 12 + n) + probability * i / 6},
                )
                for i in range(144)
            ]
            store.write_samples(SeriesTags(tenant.name, aid, kind, cid, site), samples)
    finally:
        store.close()


def run_chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
        "--hide-scrollbars",
        # Virtual time lets the page's fetches and timers run before the capture.
        "--virtual-time-budget=8000",
        *args,
        url,
    ]
    env = {**os.environ, "HOME": str(profile)}
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False, env=env)


def test_the_board_renders_customers_visits_and_asset_trends(
    tenant: Tenant, settings: Settings, tmp_path: Path, db_url: str, seed: Any
) -> None:
    seed_board(tenant, settings)
    url = f"{tenant.url}/?key={tenant.keys['dispatcher']}"

    dom = run_chromium(url, tmp_path / "dom-profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'data-loaded="' in html, html[-3000:]
    assert re.search(r"<span id=\"status\"[^>]*>updated ", html), re.findall(
        r"<span id=\"status\".{0,200}", html
    )
    for text in ("Northwind Utilities", "Lakeside Clinic", "pump-0042", "chiller-03", "north-plant"):
        assert text in html, text
    # Ranked by risk: the customer with the most outages first.
    assert html.index("Northwind Utilities") < html.index("Harbor Foods") < html.index("Old Mill Bakery")
    # The index is a probability; its top drivers leave out the base rate; the model in force shows.
    assert "Negative outcome in 30 days" in html and "prior · 0 outcomes so far" in html
    assert re.search(r"\d+\.\d %", html) and "base rate" not in html and "outages " in html
    # Open visits by priority, asset health with trend charts, and who is offline.
    assert html.index('class="prio P1"') < html.index('class="prio P2"') < html.index('class="prio P3"')
    assert html.count("<polyline") == len(ASSETS)
    # A sensor check names its sensor and fault instead of a predicted failure.
    assert "sensor check" in html and "flow_m3h stuck" in html
    assert 'class="offline" data-asset="chiller-03"' in html
    # The technicians' plan: who comes when, and the visit waiting for capacity (also a KPI).
    assert "#1 tech-ana" in html and "overbooked · earliest tech-ana" in html
    assert re.search(
        r'class="kpi alert" id="kpi-capacity-box"><span>Waiting for capacity</span><b id="kpi-capacity">1<',
        html,
    )

    OUTPUT.mkdir(exist_ok=True)
    png = OUTPUT / ("board.png" if db_url.startswith("sqlite") else "board-postgresql.png")
    png.unlink(missing_ok=True)
    shot = run_chromium(url, tmp_path / "shot-profile", f"--screenshot={png}")
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert png.stat().st_size > 20_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_grafana_links_open_the_board_on_one_customer_or_one_asset(
    tenant: Tenant, settings: Settings, tmp_path: Path, seed: Any
) -> None:
    """The links of Grafana's panels (``?customer=`` / ``?asset=``, grafana/dashboards.py) show
    that customer's, or that asset's, rows only."""
    seed_board(tenant, settings)
    key = tenant.keys["dispatcher"]
    by_customer = run_chromium(f"{tenant.url}/?key={key}&customer=northwind", tmp_path / "c", "--dump-dom")
    html = by_customer.stdout
    assert 'data-loaded="' in html, by_customer.stderr[-2000:]
    assert "showing customer northwind" in html
    assert "Northwind Utilities" in html and "Lakeside Clinic" not in html and "Harbor Foods" not in html
    assert 'data-asset="pump-0042"' in html and 'data-asset="comp-0007"' in html
    assert 'data-asset="chiller-03"' not in html
    assert 'class="prio P1"' in html and 'class="prio P3"' in html and 'class="prio P2"' not in html

    by_asset = run_chromium(f"{tenant.url}/?key={key}&asset=chiller-03", tmp_path / "a", "--dump-dom")
    html = by_asset.stdout
    assert "showing asset chiller-03" in html and "Lakeside Clinic" in html
    assert 'data-asset="chiller-03"' in html and 'data-asset="pump-0042"' not in html
    assert 'class="prio P2"' in html and 'class="prio P1"' not in html
