"""One run-to-failure fleet at another cadence: fixed or jittered intervals, offline gaps, late backlogs.

Reads a fleet in the ``forestall backtest fleet`` layout (``manifest.json`` and ``<asset>.csv``, for
example from ``bench/progpy_fleet.py`` at a high rate) and writes the same fleet as a device reporting
at another cadence would have sent it. The machines, their wear and their failures stay the same; only
which readings exist (and when they arrive) changes, so the figures of ``forestall backtest fleet`` on
the variants say how much the cadence matters.

- ``--every-minutes M``: one reading per M minutes of event time, the first reading at or after each
  tick (ticks start at the asset's first reading and run through idle spells and repairs).
- ``--jitter F``: each interval is drawn uniformly from ``M * (1 ± F)`` (F < 1).
- ``--gaps-per-100h G --gap-hours H``: the device is offline for spells of H hours, G per 100 hours
  of its record on average, placed at random; readings in a spell are lost.
- ``--backlog``: readings in a spell are not lost but buffered on the device and sent when it comes back
  (column ``arrived``: the spell's end, and never after the asset's next failure, when the technician
  restores the link).

The variant depends only on the source and the arguments (``--seed``).

    python -m programs.backtest.resample /tmp/pump-1m /tmp/pump-5m --every-minutes 5
    python -m programs.backtest.resample /tmp/pump-1m /tmp/pump-j --every-minutes 5 --jitter 0.5 \\
        --gaps-per-100h 1 --gap-hours 6
    python -m programs.backtest.resample /tmp/pump-1m /tmp/pump-b --every-minutes 5 --gaps-per-100h 1 \\
        --gap-hours 6 --backlog
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from programs.backtest.history import parse_time

HOUR = 3600.0


@dataclass(frozen=True)
class Cadence:
    every_s: float
    jitter: float = 0.0
    gaps_per_100h: float = 0.0
    gap_s: float = 0.0
    backlog: bool = False


def pick(times: Sequence[float], cadence: Cadence, rng: random.Random) -> list[int]:
    """Indices of the readings a device at ``cadence`` would have taken (``times`` ascending).

    >>> pick([0, 60, 120, 180, 240, 300, 360], Cadence(every_s=180), random.Random(1))
    [0, 3, 6]
    """
    kept: list[int] = []
    i, tick = 0, times[0] if times else 0.0
    while i < len(times):
        i = bisect.bisect_left(times, tick, lo=i)
        if i == len(times):
            break
        kept.append(i)
        step = cadence.every_s * (1 + rng.uniform(-cadence.jitter, cadence.jitter))
        tick = times[i] + step
        i += 1
    return kept


def spells(start: float, end: float, cadence: Cadence, rng: random.Random) -> list[tuple[float, float]]:
    """Offline spells over ``[start, end]``: Poisson in number, uniform in place, non-overlapping."""
    if cadence.gaps_per_100h <= 0 or end <= start:
        return []
    expected = cadence.gaps_per_100h * (end - start) / (100 * HOUR)
    count = _poisson(expected, rng)
    out: list[tuple[float, float]] = []
    for begin in sorted(rng.uniform(start, end) for _ in range(count)):
        if out and begin < out[-1][1]:
            continue
        out.append((begin, begin + cadence.gap_s))
    return out


def _poisson(mean: float, rng: random.Random) -> int:
    # Knuth's method is exact and fast at the small means used here (a few per asset).
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def arrival(ts: float, offline: list[tuple[float, float]], failures: Sequence[float]) -> float:
    """When a reading taken at ``ts`` would reach the cloud: ``ts`` if the device is online, else the
    spell's end, capped just before the asset's next failure."""
    for begin, end in offline:
        if begin <= ts < end:
            after = bisect.bisect_right(failures, ts)
            return min(end, failures[after] - 1.0) if after < len(failures) else end
    return ts


def resample_asset(src: Path, dst: Path, failures: Sequence[float], cadence: Cadence, seed: int) -> int:
    """Write one asset's CSV at ``cadence``; returns the readings written."""
    rng = random.Random(f"{seed}:{src.stem}")
    lines = src.read_text().splitlines()
    header, body = lines[0], [line for line in lines[1:] if line.strip()]
    times = [parse_time(line.split(",", 1)[0], f"{src}:{n}") for n, line in enumerate(body, 2)]
    kept = pick(times, cadence, rng)
    offline = spells(times[0], times[-1], cadence, rng) if times else []
    written = 0
    with dst.open("w") as fh:
        ts_name, _, sensors = header.partition(",")
        fh.write(f"{ts_name},arrived,{sensors}\n" if cadence.backlog else header + "\n")
        for i in kept:
            arrived = arrival(times[i], offline, failures)
            if arrived > times[i] and not cadence.backlog:
                continue  # taken while offline and not buffered: lost
            ts_cell, _, cells = body[i].partition(",")
            if cadence.backlog:
                late = _rfc3339(arrived) if arrived > times[i] else ""
                fh.write(f"{ts_cell},{late},{cells}\n")
            else:
                fh.write(body[i] + "\n")
            written += 1
    return written


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(round(seconds), UTC).isoformat().replace("+00:00", "Z")


def resample(src: Path, out: Path, cadence: Cadence, seed: int) -> tuple[int, int]:
    """Resample every asset of the fleet in ``src`` into ``out``; returns (assets, readings)."""
    manifest = json.loads((src / "manifest.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "manifest.json", out / "manifest.json")
    readings = 0
    for entry in manifest:
        asset = entry["asset"]
        failures = sorted(parse_time(f, f"{asset} failure") for f in entry.get("failures", []))
        readings += resample_asset(src / f"{asset}.csv", out / f"{asset}.csv", failures, cadence, seed)
    return len(manifest), readings


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("src", type=Path, help="a fleet in the backtest fleet layout")
    ap.add_argument("out", type=Path)
    ap.add_argument("--every-minutes", type=float, required=True)
    ap.add_argument("--jitter", type=float, default=0.0, help="intervals vary by ± this share")
    ap.add_argument("--gaps-per-100h", type=float, default=0.0)
    ap.add_argument("--gap-hours", type=float, default=6.0)
    ap.add_argument("--backlog", action="store_true", help="readings in a gap arrive when it ends")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.every_minutes <= 0 or not 0 <= args.jitter < 1 or args.gaps_per_100h < 0 or args.gap_hours <= 0:
        ap.error("need --every-minutes > 0, 0 <= --jitter < 1, --gaps-per-100h >= 0 and --gap-hours > 0")
    cadence = Cadence(
        args.every_minutes * 60, args.jitter, args.gaps_per_100h, args.gap_hours * HOUR, args.backlog
    )
    assets, readings = resample(args.src, args.out, cadence, args.seed)
    print(f"{args.out}: {assets} assets, {readings} readings")


if __name__ == "__main__":
    main()
