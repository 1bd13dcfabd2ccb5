"""``backtest sim`` with broken sensors: Forestall flags them within a day, sends sensor checks
(counted apart from failure visits), and sends no failure visit to an asset whose only problem
is a sensor; static thresholds take the broken sensors for broken machines."""

from __future__ import annotations

from dataclasses import replace

from programs.backtest.sim import run_forestall, run_thresholds
from simulators.world import FleetSpec, easy

# The easy world (a daily duty cycle, constant climate): broken sensors are all that goes wrong.
SPEC = replace(
    easy(FleetSpec(tenant="t", assets=12, customers=3, seed=4, onset_rate_per_h=0.0)),
    sensor_fault_share=0.34, sensor_fault_hours=(40.0, 60.0),
)  # fmt: skip


def test_broken_sensors_get_sensor_checks_and_no_failure_visits() -> None:
    result = run_forestall(SPEC, hours=96.0).summary()
    assert result["sensor_faults"] == 4
    assert result["sensor_faults_flagged_24h_by_kind"] == {
        k: "1/1" for k in ("drift", "dropout", "spike", "stuck")
    }
    assert result["sensor_checks"] == result["sensor_repairs"] == 4
    assert result["visits_completed"] == result["false_visits"] == result["sensor_only_visits"] == 0


def test_static_thresholds_send_failure_visits_to_broken_sensors() -> None:
    result = run_thresholds(SPEC, hours=96.0, sigmas=4.0).summary()
    assert result["sensor_only_visits"] > 0 and result["false_visits"] >= result["sensor_only_visits"]
    assert result["sensor_checks"] == 0 and "sensor_faults_flagged_24h_share" not in result
