"""Operating regimes of an equipment type, found from its first readings.

Equipment that runs at a few distinct operating points (flight conditions of an aero engine,
the speed steps of a pump, on and off) reads at a different level in each, far apart
compared with the noise and the wear within one. Scoring such readings against one baseline
would hide a fault behind the regime changes, so each regime gets its own normal.

``RegimeModel`` collects the type's first ``collect`` readings and tries k-means for k =
``max_regimes`` … 2, each sensor measured in its scatter *within* the clusters (found anew
until they hold still), so the sensors the regimes move weigh much and the ones that merely
scatter little. It keeps k regimes only when they are *discrete*: each holds a fair share of
the readings and every two centres lie ``separation`` scatters apart. Noise, wear and a smooth
duty cycle spread readings along a continuum, which k-means also cuts into pieces, but those
sit only a few scatters apart; a scatter is never taken below the sensor's resolution, so a
quantised sensor stepping by its last digit is no regime either. A type without discrete
regimes keeps a single one (0). After the fit each reading goes to the nearest centre over
the sensors it has.

>>> import random
>>> rng = random.Random(1)
>>> model = RegimeModel(collect=60)
>>> points = [{"rpm": 1000.0 * (1 + i % 3) + rng.gauss(0, 5), "temp": 40.0 + rng.gauss(0, 1)}
...           for i in range(60)]
>>> [model.assign(p) for p in points][:3]  # all 0 while the first readings are collected
[0, 0, 0]
>>> model.fitted, model.count
(True, 3)
>>> model.assign({"rpm": 2010.0, "temp": 41.0}) == model.assign({"rpm": 1995.0, "temp": 45.0})
True
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


class RegimeModel:
    """Discrete operating regimes of one equipment type (0 … ``count`` - 1)."""

    def __init__(
        self, collect: int = 240, max_regimes: int = 8, separation: float = 8.0, min_share: float = 0.03
    ) -> None:
        if collect < 2 * max_regimes or max_regimes < 1:
            raise ValueError("collect must be at least twice max_regimes, which must be positive")
        self.collect, self.max_regimes = collect, max_regimes
        self.separation, self.min_share = separation, min_share
        self.count = 1
        self.fitted = False
        self._seen: list[dict[str, float]] = []
        self._sources: list[Hashable] = []  # the asset of each reading seen
        self._names: list[str] = []  # the level sensors
        self._scale = np.ones(0)  # their scatter within a level
        self._centroids = np.zeros((1, 0))  # regime centres, in those scatters

    def assign(self, reading: Mapping[str, float], source: Hashable = None, sample: bool = True) -> int:
        """The regime of ``reading`` (from asset ``source``); 0 for all until the regimes are fitted.
        Until then, a reading with ``sample`` is kept to find them from."""
        if not self.fitted:
            if not sample:
                return 0
            self._seen.append(dict(reading))
            self._sources.append(source)
            if len(self._seen) >= self.collect:
                self._fit()
            return 0
        if self.count == 1:
            return 0
        index = [i for i, name in enumerate(self._names) if name in reading]
        if not index:
            return 0
        point = np.array([reading[self._names[i]] for i in index]) / self._scale[index]
        return int(np.argmin(((self._centroids[:, index] - point) ** 2).sum(axis=1)))

    def _fit(self) -> None:
        seen, self._seen = self._seen, []
        sources, self._sources = np.array([hash(s) for s in self._sources]), []
        self.fitted = True
        names = sorted(name for name in {n for r in seen for n in r} if all(name in r for r in seen))
        if not names:
            return  # a regime sensor is read with every reading
        data = np.array([[r[n] for n in names] for r in seen], dtype=np.float64)
        floor = np.array([_resolution(data[:, j]) for j in range(len(names))])
        spread = np.maximum(data.std(axis=0), floor)
        for k in range(self.max_regimes, 1, -1):
            found = self._clusters(data, sources, k, spread, floor, np.random.default_rng(k))
            if found is not None:
                centroids, scale = found
                self._names, self._scale = names, scale
                self._centroids = centroids[np.lexsort(centroids.T[::-1])]  # a stable numbering
                self.count = k
                return

    def _clusters(
        self, data: F64, sources: NDArray[np.int64], k: int, spread: F64, floor: F64, rng: np.random.Generator
    ) -> tuple[F64, F64] | None:
        """k discrete regimes (centres in units of the scatter within a regime, and that scatter), or None.

        Each sensor is measured in its scatter *within* the clusters, found anew until they hold
        still: sensors that the regimes move weigh much, sensors that only scatter weigh little.
        """
        scale = spread
        labels = np.zeros(len(data), dtype=np.int64)
        for _ in range(8):
            centroids, new = _kmeans(data / scale, k, rng)
            within = np.sqrt(((data - (centroids * scale)[new]) ** 2).mean(axis=0))
            scale = np.maximum(within, floor)
            if (new == labels).all():
                break
            labels = new
        counts = np.bincount(labels, minlength=k)
        if counts.min() < self.min_share * len(data):
            return None
        # A regime is a way the equipment runs, so most assets pass through each: clusters that
        # belong to a few assets are those assets' own offsets.
        assets, per_asset = np.unique(sources, return_counts=True)
        regulars = set(assets[per_asset >= 2 * k].tolist()) or set(assets.tolist())
        for j in range(k):
            if len(regulars & set(sources[labels == j].tolist())) < 0.5 * len(regulars):
                return None
        scaled = data / scale
        centroids = np.array([scaled[labels == j].mean(axis=0) for j in range(k)])
        for a in range(k):
            for b in range(a + 1, k):
                # Apart along the line between the two centres, whatever the number of sensors:
                # a continuum cut in pieces is only ~3.5 spreads apart there.
                gap = centroids[a] - centroids[b]
                distance = float(np.sqrt(gap @ gap))
                direction = gap / max(distance, 1e-12)
                width = max(float((scaled[labels == j] @ direction).std()) for j in (a, b))
                if distance < self.separation * max(width, 1.0 / math.sqrt(len(direction))):
                    return None
        return centroids, scale


def _resolution(values: F64) -> float:
    """The smallest step between distinct values: the sensor's resolution (or its scale's ten-billionth)."""
    steps = np.diff(np.unique(values))
    return float(steps.min()) if len(steps) else max(abs(float(values[0])) * 1e-10, 1e-12)


def _kmeans(
    z: F64, k: int, rng: np.random.Generator, restarts: int = 4, rounds: int = 30
) -> tuple[F64, NDArray[np.int64]]:
    """Lloyd's k-means with k-means++ starts; the best of ``restarts`` by within-cluster sum of squares."""
    best: tuple[float, F64, NDArray[np.int64]] | None = None
    for _ in range(restarts):
        centroids = z[[int(rng.integers(len(z)))]]
        while len(centroids) < k:
            d2 = ((z[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2).min(axis=1)
            total = float(d2.sum())
            pick = int(rng.choice(len(z), p=d2 / total)) if total > 0 else int(rng.integers(len(z)))
            centroids = np.vstack([centroids, z[pick]])
        labels = np.zeros(len(z), dtype=np.int64)
        for _ in range(rounds):
            labels = ((z[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
            moved = np.array(
                [z[labels == j].mean(axis=0) if (labels == j).any() else centroids[j] for j in range(k)]
            )
            if np.allclose(moved, centroids):
                break
            centroids = moved
        inertia = float(((z - centroids[labels]) ** 2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, centroids, labels)
    assert best is not None
    return best[1], best[2]
