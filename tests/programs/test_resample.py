"""The fleet resampler: the same machines at another cadence, with gaps and late backlogs."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

from programs.backtest.history import read_folder
from programs.backtest.resample import Cadence, main, pick, spells
from simulators.histories import HOUR, generate_fleet


def fleet_at_one_minute(tmp_path: Path) -> Path:
    fleet = generate_fleet(
        4, assets=3, two_lives=1, censored=1, life_hours=(20.0, 30.0), hours_per_reading=1 / 60
    )
    fleet.write(tmp_path / "src")
    return tmp_path / "src"


def intervals(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_a_fixed_cadence_keeps_one_reading_per_tick_and_the_same_failures(tmp_path: Path) -> None:
    src = fleet_at_one_minute(tmp_path)
    main([str(src), str(tmp_path / "out"), "--every-minutes", "10"])
    before, after = read_folder(src), read_folder(tmp_path / "out")
    assert [a.failures for a in after.assets] == [a.failures for a in before.assets]
    for asset, rows in after.rows.items():
        gaps = intervals([ts for ts, _ in rows])
        # every 10 minutes, but for the repair after a failure, where the machine is down
        assert sum(g == 600.0 for g in gaps) >= len(gaps) - 2, asset
        assert set(ts for ts, _ in rows) <= set(ts for ts, _ in before.rows[asset])
    assert after.arrivals == {}


def test_jittered_intervals_stay_within_their_band() -> None:
    times = [float(t) for t in range(0, 200_000, 10)]
    kept = pick(times, Cadence(every_s=300, jitter=0.5), random.Random(2))
    gaps = intervals([times[i] for i in kept])
    assert min(gaps) >= 150 and max(gaps) <= 460  # 300 s ± 50 %, and the next 10-s reading
    assert max(gaps) - min(gaps) > 200  # and they do vary


def test_gaps_lose_readings_and_a_backlog_sends_them_late(tmp_path: Path) -> None:
    src = fleet_at_one_minute(tmp_path)
    args = [str(src), "--every-minutes", "5", "--gaps-per-100h", "20", "--gap-hours", "2", "--seed", "3"]
    main([args[0], str(tmp_path / "lost"), *args[1:]])
    main([args[0], str(tmp_path / "late"), *args[1:], "--backlog"])
    main([args[0], str(tmp_path / "full"), *args[1:3]])
    lost, late, full = (read_folder(tmp_path / name) for name in ("lost", "late", "full"))
    assert lost.readings < full.readings == late.readings  # a backlog loses nothing
    assert late.arrivals, "no reading was held back"
    assert json.loads((tmp_path / "late" / "manifest.json").read_text()) == json.loads(
        (src / "manifest.json").read_text()
    )
    for asset, held in late.arrivals.items():
        ends = next(a for a in late.assets if a.asset == asset).failures
        for ts, at in held.items():
            assert at - ts <= 2 * HOUR
            assert not any(ts < f <= at for f in ends), "a backlog arrived after the failure"
    # The replay sends in order of arrival, so held-back readings come after later ones.
    order = [(ts, asset) for kind, ts, asset, _ in late.events() if kind == "reading"]
    arrived = [late.arrivals.get(asset, {}).get(ts, ts) for ts, asset in order]
    assert arrived == sorted(arrived)
    assert [ts for ts, _ in order] != sorted(ts for ts, _ in order)


def test_spells_do_not_overlap() -> None:
    offline = spells(0.0, 1000 * HOUR, Cadence(60, gaps_per_100h=5, gap_s=6 * HOUR), random.Random(1))
    assert 20 <= len(offline) <= 80
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(offline))
