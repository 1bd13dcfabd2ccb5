"""A run-to-failure history of a fleet, and how a run of recommendations scores against it.

The layout ``forestall backtest fleet`` reads (a folder):

- ``manifest.json``: ``[{"asset": "...", "asset_type": "...", "failures": [RFC 3339 | epoch, …],
  "customer": "..." (optional), "site": "..." (optional)}]``; ``"failure_at": …`` is accepted for
  one failure and ``"failures": []`` means censored (the asset never failed);
- ``<asset>.csv`` per asset: header ``ts,<sensor>,…``; ``ts`` RFC 3339 or epoch seconds; an
  empty cell is no reading of that sensor. After each failure the asset is repaired before its
  next reading and starts a new life. An optional column ``arrived`` (a reserved name, not a
  sensor) says when the reading reached the cloud, for late backlogs: the replay sends readings
  in order of arrival (``ts`` when empty), so a device that was offline flushes its buffered hours
  after the rest of the fleet has moved on.

or a C-MAPSS training file (``from_cmapss``): each engine one asset, one cycle every
``hours_per_cycle`` hours, the engines' starts spread at random over ``stagger_hours``, each
failing one cycle after its last.

Scoring (``score``) follows the outside check ``fleet_live.py``: a failure is *caught* when a
recommendation on its asset opened between ``lead_min`` and ``lead_max`` hours before it; a
recommendation is *early* when the asset's next failure is more than ``lead_max`` away, a
*false alarm* when the asset did not fail after it at all, *late* when it came less than
``lead_min`` before the failure.

>>> h = FleetHistory([HistoryAsset("a", "pump", (100 * 3600.0,), None, None)], {"a": []})
>>> h.score([("a", 40 * 3600.0), ("a", 90 * 3600.0)], 2.0, 96.0)["caught"]
1
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import random
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forestall.contract import ID_RE, SENSOR_RE
from programs.backtest import scores
from programs.backtest.cmapss import read_engines

HOUR = 3600.0
ARRIVED = "arrived"  # the reserved CSV column of a reading's arrival time
Row = tuple[float, dict[str, float]]
CMAPSS_START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


class HistoryError(ValueError):
    """The history cannot be read: the message names the file and what is wrong."""


@dataclass(frozen=True, slots=True)
class HistoryAsset:
    asset: str
    asset_type: str
    failures: tuple[float, ...]  # epoch seconds, ascending
    customer: str | None
    site: str | None


@dataclass(slots=True)
class FleetHistory:
    assets: list[HistoryAsset]
    rows: dict[str, list[Row]]  # per asset, in time order
    arrivals: dict[str, dict[float, float]] = field(default_factory=dict)  # asset → ts → arrived, if late

    @property
    def failures(self) -> int:
        return sum(len(a.failures) for a in self.assets)

    @property
    def readings(self) -> int:
        return sum(len(r) for r in self.rows.values())

    def events(self) -> Iterator[tuple[str, float, str, dict[str, float] | None]]:
        """The replay in event time: ``("reading", ts, asset, values)``, ``("failure", ts, asset, None)``
        when a failure happens (before any later reading) and ``("repair", ts, asset, None)`` just
        before a failed asset's next reading."""
        merged = sorted(
            (
                (self.arrivals.get(asset, {}).get(ts, ts), ts, asset, values)
                for asset, rows in self.rows.items()
                for ts, values in rows
            ),
            key=lambda r: (r[0], r[2], r[1]),
        )
        failures = sorted((t, a.asset) for a in self.assets for t in a.failures)
        next_failure = 0
        down: set[str] = set()
        for arrived, ts, asset, values in merged:
            while next_failure < len(failures) and failures[next_failure][0] <= arrived:
                at, failed = failures[next_failure]
                yield "failure", at, failed, None
                down.add(failed)
                next_failure += 1
            if asset in down:
                down.discard(asset)
                yield "repair", ts - 1.0, asset, None
            yield "reading", ts, asset, values
        for at, failed in failures[next_failure:]:
            yield "failure", at, failed, None

    def score(
        self, recommendations: Sequence[tuple[str, float]], lead_min_h: float, lead_max_h: float
    ) -> dict[str, Any]:
        """Score ``(asset, opened at)`` recommendations against the failures (see the module docstring)."""
        failures = {a.asset: list(a.failures) for a in self.assets}
        caught: dict[tuple[str, int], float] = {}
        early = false = late = 0
        for asset, opened in recommendations:
            times = failures.get(asset, [])
            i = bisect.bisect_left(times, opened)
            if i == len(times):
                false += 1
                continue
            lead = (times[i] - opened) / HOUR
            if lead > lead_max_h:
                early += 1
            elif lead < lead_min_h:
                late += 1
            else:
                caught[(asset, i)] = max(lead, caught.get((asset, i), 0.0))
        total = self.failures
        n = len(recommendations)
        return {
            "failures": total,
            "caught": len(caught),
            "missed": total - len(caught),
            "early": early,
            "false_alarms": false,
            "late": late,
            "recommendations": n,
            "caught_share": round(len(caught) / total, 4) if total else None,
            "early_or_false_share": round((early + false) / n, 4) if n else None,
            "median_lead_hours": round(statistics.median(caught.values()), 1) if caught else None,
        }

    def brier(self, predictions: Sequence[tuple[str, float, float]], horizon_h: float) -> dict[str, Any]:
        """Brier score of ``(asset, at, P(failure within horizon))`` against what happened.

        A prediction whose horizon runs past the end of a censored record is left out: nobody
        knows whether that asset failed in time.
        """
        failures = {a.asset: list(a.failures) for a in self.assets}
        ends = {asset: rows[-1][0] for asset, rows in self.rows.items() if rows}
        forecasts, outcomes = [], []
        for asset, at, p in predictions:
            times = failures.get(asset, [])
            i = bisect.bisect_left(times, at)
            if i < len(times):
                happened = times[i] - at <= horizon_h * HOUR
            elif at + horizon_h * HOUR <= ends.get(asset, -math.inf):
                happened = False
            else:
                continue
            forecasts.append(p)
            outcomes.append(happened)
        score = scores.brier(forecasts, outcomes)
        return {
            "brier": round(score, 4) if score is not None else None,
            "reliability": scores.reliability(forecasts, outcomes),
        }


# -- reading -------------------------------------------------------------------------------------


def parse_time(value: Any, where: str) -> float:
    """RFC 3339 (``Z`` or an offset) or epoch seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HistoryError(f"{where}: {text!r} is neither RFC 3339 nor epoch seconds") from None
    if stamp.tzinfo is None:
        raise HistoryError(f"{where}: {text!r} has no time zone (use Z or an offset)")
    return stamp.timestamp()


def read_folder(folder: Path) -> FleetHistory:
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise HistoryError(f"{folder}: no manifest.json (see `forestall backtest fleet --help`)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise HistoryError(f"{manifest_path}: {exc}") from None
    if not isinstance(manifest, list) or not manifest:
        raise HistoryError(f"{manifest_path}: expected a non-empty JSON list of assets")
    assets, rows, arrivals = [], {}, {}
    for n, entry in enumerate(manifest):
        asset = _manifest_entry(entry, f"{manifest_path}[{n}]")
        if asset.asset in rows:
            raise HistoryError(f"{manifest_path}[{n}]: asset {asset.asset!r} appears twice")
        assets.append(asset)
        late: dict[float, float] = {}
        rows[asset.asset] = read_csv(folder / f"{asset.asset}.csv", late)
        if late:
            arrivals[asset.asset] = late
    return FleetHistory(assets, rows, arrivals)


def _manifest_entry(entry: Any, where: str) -> HistoryAsset:
    if not isinstance(entry, dict):
        raise HistoryError(f"{where}: expected an object with asset, asset_type and failures")
    asset = entry.get("asset")
    if not isinstance(asset, str) or not ID_RE.fullmatch(asset):
        raise HistoryError(f"{where}: asset must match {ID_RE.pattern}, got {asset!r}")
    asset_type = entry.get("asset_type") or "equipment"
    if not isinstance(asset_type, str):
        raise HistoryError(f"{where}: asset_type must be a string")
    failures = entry.get("failures")
    if failures is None:
        failures = [entry["failure_at"]] if entry.get("failure_at") not in (None, "") else []
    if not isinstance(failures, list):
        raise HistoryError(f"{where}: failures must be a list of times")
    times = tuple(sorted(parse_time(f, f"{where}.failures") for f in failures))
    customer, site = entry.get("customer"), entry.get("site")
    for name, value in (("customer", customer), ("site", site)):
        if value is not None and (not isinstance(value, str) or not ID_RE.fullmatch(value)):
            raise HistoryError(f"{where}: {name} must match {ID_RE.pattern}, got {value!r}")
    return HistoryAsset(asset, asset_type, times, customer, site)


def read_csv(path: Path, arrivals: dict[float, float] | None = None) -> list[Row]:
    """The asset's readings in time order; a reading that arrived after its ``ts`` goes into ``arrivals``."""
    if not path.is_file():
        raise HistoryError(f"{path}: missing (every asset in manifest.json needs <asset>.csv)")
    rows: list[Row] = []
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or header[0].strip() != "ts":
            raise HistoryError(f"{path}: the header must start with ts")
        sensors = [h.strip() for h in header[1:]]
        for name in sensors:
            if name != ARRIVED and not SENSOR_RE.fullmatch(name):
                raise HistoryError(f"{path}: sensor name {name!r} must match {SENSOR_RE.pattern}")
        for line_no, line in enumerate(reader, 2):
            if not line:
                continue
            ts = parse_time(line[0], f"{path}:{line_no}")
            values = {}
            for name, cell in zip(sensors, line[1:], strict=False):
                if name == ARRIVED:
                    if cell.strip() and arrivals is not None:
                        arrived = parse_time(cell, f"{path}:{line_no}")
                        if arrived < ts:
                            raise HistoryError(f"{path}:{line_no}: arrived before its ts")
                        if arrived > ts:
                            arrivals[ts] = arrived
                elif cell.strip():
                    try:
                        value = float(cell)
                    except ValueError:
                        raise HistoryError(f"{path}:{line_no}: {name}={cell!r} is not a number") from None
                    if math.isfinite(value):
                        values[name] = value
            if values:
                rows.append((ts, values))
    rows.sort(key=lambda r: r[0])
    return rows


def from_cmapss(path: Path, hours_per_cycle: float, stagger_hours: float, seed: int) -> FleetHistory:
    """C-MAPSS training engines as a fleet: a cycle every ``hours_per_cycle`` hours, random starts."""
    if hours_per_cycle <= 0 or stagger_hours < 0:
        raise HistoryError("--hours-per-cycle must be positive and --stagger-hours not negative")
    rng = random.Random(seed)
    step = hours_per_cycle * HOUR
    assets, rows = [], {}
    for engine in read_engines(path):
        start = CMAPSS_START + rng.uniform(0.0, stagger_hours) * HOUR
        name = f"engine-{engine.unit:03d}"
        rows[name] = [(start + (c + 1) * step, values) for c, values in enumerate(engine.rows)]
        failure = start + (len(engine.rows) + 1) * step
        assets.append(HistoryAsset(name, "turbofan", (failure,), None, None))
    return FleetHistory(assets, rows)
