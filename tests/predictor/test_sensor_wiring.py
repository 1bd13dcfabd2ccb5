"""Sensor faults wired into the models (``AssetModel``): a broken channel shows on the asset's
health, feeds the failure models no more, and comes back once a sensor repair is labelled."""

from __future__ import annotations

from predictor.engine import Predictor
from simulators.physics import SensorDefect, make_equipment

HOUR = 3600.0
ONSET = 30 * HOUR


def test_the_asset_model_reports_a_broken_sensor_keeps_it_out_and_takes_it_back_once_repaired() -> None:
    """Through ``Predictor``: a stuck channel shows on ``Health.sensor_faults``, no longer feeds
    the failure models (its deviation is gone from the asset's), and a ``sensor_repair`` label
    of that channel clears it."""
    predictor = Predictor()
    pumps = [make_equipment("pump", f"p{n}", seed=5, start=0.0, onset_rate_per_h=0.0) for n in range(3)]
    pumps[0].sensor_defect = SensorDefect("temp_c", "stuck", ONSET)
    t = 0.0
    while t <= ONSET + 6 * HOUR:
        for pump in pumps:
            health = predictor.observe("t", pump.asset_id, "pump", t, pump.read(t))
        t += 600.0
    model = predictor.assets[("t", "p0")]
    assert [(f.channel, f.kind) for f in model.last.sensor_faults] == [("temp_c", "stuck")]  # type: ignore[union-attr]
    assert "temp_c" not in model.smoothed and "temp_c" in predictor.assets[("t", "p1")].smoothed
    assert health.sensor_faults == ()  # the healthy pumps have none
    pumps[0].repair_sensor(t)
    predictor.label("t", "p0", "pump", "sensor_repair:temp_c", t)
    predictor.observe("t", "p0", "pump", t + 600.0, pumps[0].read(t + 600.0))
    assert model.sensors.faults == {} and model.last.sensor_faults == ()  # type: ignore[union-attr]
