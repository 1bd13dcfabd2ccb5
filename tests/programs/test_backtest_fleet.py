"""``forestall backtest fleet``: a generated history replayed through the broker, worker and API."""

from __future__ import annotations

import csv
import json
import os
import random
from datetime import datetime
from pathlib import Path

import pytest

from programs.backtest.history import FleetHistory, HistoryAsset, HistoryError, read_folder
from programs.backtest.resample import main as resample_main
from programs.cli import main
from simulators.histories import GeneratedFleet, generate_fleet

HOUR = 3600.0


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def run_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], folder: Path, *extra: str
) -> tuple[dict[str, object], dict[str, list[float]], dict[str, list[float]]]:
    timeline = tmp_path / "timeline.csv"
    before = capsys.readouterr().out  # the test's own lines (the fleet's seed), kept for its report
    assert main(["backtest", "fleet", str(folder), "--timeline", str(timeline), *extra]) == 0
    out = capsys.readouterr().out  # progress goes to stderr: stdout is one JSON document
    print(before, end="")
    assert out.count("\n") == 1, out
    result = json.loads(out)
    failures: dict[str, list[float]] = {}
    recommendations: dict[str, list[float]] = {}
    with timeline.open() as fh:
        for row in csv.DictReader(fh):
            if row["event"] == "failure":
                failures.setdefault(row["asset"], []).append(stamp(row["ts"]))
            elif row["event"] == "recommendation":
                recommendations.setdefault(row["asset"], []).append(stamp(row["ts"]))
    return result, failures, recommendations


@pytest.mark.integration
@pytest.mark.parametrize("labels_early", [False, True], ids=["labels-after-data", "labels-early"])
def test_unknown_equipment_degrading_from_installation_is_caught_after_two_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], labels_early: bool
) -> None:
    seed = int(os.environ.get("FORESTALL_FLEET_SEED") or random.randrange(1_000_000))
    print(f"generated fleet seed {seed} (FORESTALL_FLEET_SEED={seed} repeats it)")
    fleet = generate_fleet(seed, assets=6, two_lives=1, censored=1)
    fleet.write(tmp_path / "fleet")
    extra = ("--labels-early",) if labels_early else ()
    result, failures, recommendations = run_replay(tmp_path, capsys, tmp_path / "fleet", *extra)
    assert result["failures"] == 6 and result["samples_stored"] == sum(len(a.rows) for a in fleet.assets)
    assert_caught_after_two_failures(seed, fleet, result, failures, recommendations)


@pytest.mark.integration
def test_a_fleet_read_irregularly_with_late_backlogs_is_caught_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every 30 minutes ± 50 %, offline for 6 hours twice per 100 hours, each spell's readings
    # flushed when the device comes back, after the rest of the fleet has moved on.
    seed = int(os.environ.get("FORESTALL_FLEET_SEED") or random.randrange(1_000_000))
    print(f"generated fleet seed {seed} (FORESTALL_FLEET_SEED={seed} repeats it)")
    fleet = generate_fleet(seed, assets=6, two_lives=1, censored=1, hours_per_reading=0.25)
    fleet.write(tmp_path / "fleet")
    variant = tmp_path / "variant"
    cadence = ["--every-minutes", "30", "--jitter", "0.5", "--gaps-per-100h", "2", "--gap-hours", "6"]
    resample_main([str(tmp_path / "fleet"), str(variant), *cadence, "--backlog", "--seed", str(seed)])
    sent = read_folder(variant)
    assert sent.arrivals, f"seed {seed}: no backlog"
    result, failures, recommendations = run_replay(tmp_path, capsys, variant)
    assert result["failures"] == 6 and result["samples_stored"] == sent.readings
    assert_caught_after_two_failures(seed, fleet, result, failures, recommendations)


def assert_caught_after_two_failures(
    seed: int,
    fleet: GeneratedFleet,
    result: dict[str, object],
    failures: dict[str, list[float]],
    recommendations: dict[str, list[float]],
) -> None:
    ordered = sorted((t, asset) for asset, times in failures.items() for t in times)
    for at, asset in ordered[2:]:  # the first two are how the fleet learns what failing looks like
        leads = [(at - t) / HOUR for t in recommendations.get(asset, []) if t < at]
        assert any(2.0 <= lead <= 96.0 for lead in leads), f"seed {seed}: {asset} failing at {at} not caught"
    censored = next(a.asset for a in fleet.assets if not a.failures)
    assert censored not in recommendations, f"seed {seed}: the asset that never failed got a visit"
    twice = next(a.asset for a in fleet.assets if len(a.failures) == 2)
    assert len(failures[twice]) == 2  # and both caught, above: failure, repair, new life, failure
    brier = result["brier"]
    assert isinstance(brier, float) and 0.0 <= brier <= 1.0


def test_the_layout_is_read_with_clear_errors(tmp_path: Path) -> None:
    folder = tmp_path / "h"
    folder.mkdir()
    with pytest.raises(HistoryError, match=r"no manifest\.json"):
        read_folder(folder)
    (folder / "manifest.json").write_text(
        json.dumps([{"asset": "p-1", "failure_at": "2026-01-02T00:00:00Z"}])
    )
    with pytest.raises(HistoryError, match=r"p-1\.csv"):
        read_folder(folder)
    (folder / "p-1.csv").write_text("ts,temp_c,Bad Name\n1767225600,1,2\n")
    with pytest.raises(HistoryError, match="Bad Name"):
        read_folder(folder)
    (folder / "p-1.csv").write_text("ts,temp_c,flow\n2026-01-01T00:00:00Z,1.5,\n1767229200,oops,1\n")
    with pytest.raises(HistoryError, match=r"p-1.csv:3: temp_c='oops'"):
        read_folder(folder)
    (folder / "p-1.csv").write_text("ts,temp_c,flow\n2026-01-01T00:00:00Z,1.5,\n1767229200,2.5,7\n")
    history = read_folder(folder)
    assert history.assets[0].failures == (stamp("2026-01-02T00:00:00Z"),)
    assert history.rows["p-1"] == [
        (1767225600.0, {"temp_c": 1.5}),
        (1767229200.0, {"temp_c": 2.5, "flow": 7.0}),
    ]
    (folder / "manifest.json").write_text(json.dumps([{"asset": "p 1", "failures": []}]))
    with pytest.raises(HistoryError, match="asset must match"):
        read_folder(folder)


def test_scores_follow_the_outside_check() -> None:
    h = FleetHistory(
        [
            HistoryAsset("a", "x", (100 * HOUR, 300 * HOUR), None, None),
            HistoryAsset("b", "x", (), None, None),
        ],
        {
            "a": [(0.0, {"v": 1.0}), (400 * HOUR, {"v": 1.0})],
            "b": [(0.0, {"v": 1.0}), (500 * HOUR, {"v": 1.0})],
        },
    )
    recs = [
        ("a", 50 * HOUR),
        ("a", 60 * HOUR),
        ("a", 99.5 * HOUR),
        ("a", 150 * HOUR),
        ("a", 350 * HOUR),
        ("b", 10.0),
    ]
    score = h.score(recs, 2.0, 96.0)
    assert (score["caught"], score["missed"], score["early"], score["late"], score["false_alarms"]) == (
        1,
        1,
        1,
        1,
        2,
    )
    assert score["median_lead_hours"] == 50.0
    brier = h.brier(
        [("a", 90 * HOUR, 1.0), ("a", 10 * HOUR, 0.0), ("b", 100 * HOUR, 0.0), ("b", 490 * HOUR, 0.9)], 48.0
    )
    assert brier["brier"] == 0.0  # the last one is censored: nobody knows, so it is left out
    events = [(kind, asset) for kind, _, asset, _ in h.events()]
    assert events.index(("failure", "a")) < events.index(("repair", "a")) < len(events) - 1
