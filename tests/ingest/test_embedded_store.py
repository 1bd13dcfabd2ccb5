"""The embedded store on a real SQLite file, shared by two connections (as worker and API do)."""

from __future__ import annotations

from pathlib import Path

from forestall.contract import Sample
from forestall.series import Point, SeriesTags
from ingest.store.embedded import EmbeddedStore


def test_samples_merge_by_timestamp_and_read_back_in_order(tmp_path: Path) -> None:
    writer = EmbeddedStore(tmp_path / "ts.sqlite")
    reader = EmbeddedStore(tmp_path / "ts.sqlite")
    tags = SeriesTags("acme", "p1", "pump", "c1", "s1")
    writer.write_samples(tags, [Sample(20.0, {"a": 2.0}), Sample(10.0, {"a": 1.0})])
    writer.write_samples(tags, [Sample(10.0, {"b": 5.0})])
    assert reader.query_telemetry("acme", "p1", 0, 100) == [(10.0, {"a": 1.0, "b": 5.0}), (20.0, {"a": 2.0})]
    assert reader.query_telemetry("acme", "p1", 0, 100, sensors=["b"]) == [(10.0, {"b": 5.0})]
    assert reader.query_telemetry("acme", "p1", 0, 100, after=10.0) == [(20.0, {"a": 2.0})]
    assert reader.query_telemetry("other", "p1", 0, 100) == []
    assert reader.count_samples("acme") == 2


def test_points_and_retention_at_each_tenants_event_clock(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "ts.sqlite", retention_days=1)
    for tenant in ("t", "u"):
        store.write_samples(SeriesTags(tenant, "p1"), [Sample(0.0, {"a": 1.0}), Sample(90_000.0, {"a": 2.0})])
    store.write_points(
        [Point("asset_health", {"tenant": "t", "asset": "p1"}, {"anomaly_score": 0.5}, 90_000.0)]
    )
    assert store.purge("t", now=100_000.0) == 1
    assert store.query_telemetry("t", "p1", 0, 10**6) == [(90_000.0, {"a": 2.0})]
    assert len(store.query_telemetry("u", "p1", 0, 10**6)) == 2  # another tenant's clock is its own
    [point] = store.query_points("asset_health", "t", "p1", 0, 10**6)
    assert point.fields == {"anomaly_score": 0.5}
