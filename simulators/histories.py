"""Run-to-failure histories of equipment Forestall knows nothing about, in the ``backtest fleet`` layout.

Each generated fleet is one equipment type with a random name and random sensors (names,
levels, noise, which of them the wear moves and which way). An asset *degrades from
installation*: its hidden damage grows from the first reading, along a convex curve whose
steepness and length (the life) differ from life to life, and it fails when the damage
reaches 1; the sensors it moves sit at their failure levels then. Every asset has its own
offsets, starts with a warm-up transient, and its readings are noisy. After a failure the
asset is repaired a few hours later and starts a new life; assets with two lives start once
the others have failed. A censored asset's record ends part-way through its life.

>>> fleet = generate_fleet(seed=3, assets=4, two_lives=1, censored=1)
>>> sorted(len(a.failures) for a in fleet.assets)
[0, 1, 1, 2]
>>> len(fleet.sensors) >= 5
True
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

from forestall.contract import format_ts

HOUR = 3600.0
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
REPAIR_GAP_H = 4.0


@dataclass(frozen=True, slots=True)
class Sensor:
    name: str
    level: float
    noise: float
    at_failure: float  # shift at failure, in noise sd (0: the wear does not move it)
    warmup: float  # shift at start-up, in noise sd, fading over a few hours


@dataclass(frozen=True, slots=True)
class GeneratedAsset:
    asset: str
    failures: tuple[float, ...]
    rows: tuple[tuple[float, dict[str, float]], ...]


@dataclass(frozen=True, slots=True)
class GeneratedFleet:
    asset_type: str
    sensors: tuple[Sensor, ...]
    assets: tuple[GeneratedAsset, ...]

    def write(self, folder: Path) -> None:
        """Write ``manifest.json`` and one CSV per asset (the ``backtest fleet`` layout)."""
        folder.mkdir(parents=True, exist_ok=True)
        manifest = [
            {"asset": a.asset, "asset_type": self.asset_type, "failures": [_iso(t) for t in a.failures]}
            for a in self.assets
        ]
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
        names = [s.name for s in self.sensors]
        for asset in self.assets:
            lines = ["ts," + ",".join(names)]
            lines += [_iso(ts) + "," + ",".join(f"{v[n]:.6g}" for n in names) for ts, v in asset.rows]
            (folder / f"{asset.asset}.csv").write_text("\n".join(lines) + "\n")


def generate_fleet(
    seed: int,
    assets: int = 6,
    two_lives: int = 1,
    censored: int = 1,
    life_hours: tuple[float, float] = (150.0, 300.0),
    stagger_hours: float = 100.0,
    hours_per_reading: float = 1.0,
) -> GeneratedFleet:
    """A fleet of ``assets``: ``two_lives`` of them fail twice, ``censored`` never fail on record."""
    if assets < two_lives + censored or assets < 1:
        raise ValueError("need assets >= two_lives + censored >= 0 and at least one asset")
    rng = random.Random(seed)
    sensors = _sensors(rng)
    prefix = f"u{rng.randrange(16**4):04x}"
    fleet = []
    for n in range(assets):
        lives = 2 if n < two_lives else 1
        cut = rng.uniform(0.35, 0.5) if two_lives <= n < two_lives + censored else None
        # Assets with two lives start once every single-life asset has failed, so both their
        # failures come after the fleet has seen some.
        late = stagger_hours + life_hours[1] - life_hours[0] if lives == 2 else 0.0
        start = START + (late + rng.uniform(0.0, stagger_hours)) * HOUR
        fleet.append(
            _asset(rng, f"{prefix}-{n + 1:02d}", sensors, lives, cut, life_hours, start, hours_per_reading)
        )
    return GeneratedFleet(f"type-{rng.randrange(16**6):06x}", sensors, tuple(fleet))


def _sensors(rng: random.Random) -> tuple[Sensor, ...]:
    count = rng.randint(5, 8)
    moved = set(rng.sample(range(count), rng.randint(3, count - 1)))
    sensors = []
    for i in range(count):
        level = 10 ** rng.uniform(-1.0, 3.0) * rng.choice((-1.0, 1.0))
        shift = rng.uniform(5.0, 10.0) * rng.choice((-1.0, 1.0)) if i in moved else 0.0
        sensors.append(
            Sensor(
                f"s_{rng.randrange(16**5):05x}",
                level,
                abs(level) * rng.uniform(0.002, 0.02),
                shift,
                rng.uniform(-3.0, 3.0),
            )
        )
    return tuple(sensors)


def _asset(
    rng: random.Random,
    name: str,
    sensors: tuple[Sensor, ...],
    lives: int,
    cut: float | None,
    life_hours: tuple[float, float],
    start: float,
    hours_per_reading: float,
) -> GeneratedAsset:
    offsets = {s.name: rng.gauss(0.0, 1.5) * s.noise for s in sensors}
    t = start
    rows: list[tuple[float, dict[str, float]]] = []
    failures: list[float] = []
    for _ in range(lives):
        length = rng.uniform(*life_hours)
        steepness = rng.uniform(1.5, 3.0)
        initial = rng.uniform(0.0, 0.05)  # damage at installation: it starts worn a little
        end = length * (cut if cut is not None else 1.0)
        age = 0.0
        while age < end:
            progress = age / length
            damage = initial + (1 - initial) * math.expm1(steepness * progress) / math.expm1(steepness)
            warm = math.exp(-age / 3.0)
            rows.append(
                (
                    t + age * HOUR,
                    {
                        s.name: s.level
                        + offsets[s.name]
                        + s.noise * (s.at_failure * damage + s.warmup * warm + rng.gauss(0.0, 1.0))
                        for s in sensors
                    },
                )
            )
            age += hours_per_reading
        if cut is None:
            failures.append(t + length * HOUR)
        t += (length + REPAIR_GAP_H) * HOUR
    return GeneratedAsset(name, tuple(failures), tuple(rows))


def _iso(ts: float) -> str:
    return format_ts(ts)
