"""Remaining useful life (RUL) learned online from the failures of a fleet.

Two pieces, both pure (no I/O):

- ``RulFeatures`` (one per asset) turns raw readings into one feature vector per event-time
  step: the mean of each sensor over the last few steps at several scales (their differences
  carry the trend). It keeps the last ``keep`` steps compactly (float32 step means, less each
  sensor's first value of the life, so that a large level does not eat the precision of small changes: a
  line frequency of 50 Hz or an absolute pressure in Pa) so that the vectors can be rebuilt and
  labelled when the asset fails.
- ``RulModel`` (one per equipment type) learns when a failure arrives: every remembered vector
  gets the target ``min(hours to failure, cap)``. A kernel ridge regression (random Fourier
  features, exact online least squares through its sufficient statistics, so each vector is
  learned once) maps a vector to a health indicator in hours. Its inputs are standardised with
  a fleet scaler fixed from the first ``min_failures`` failures (they are held until then) and
  clipped at ±``clip_z``, so a sensor those failures barely moved cannot blow up later. With
  the asset's recent history, its indicator trajectory is also matched against the trajectories
  of the failed assets (similarity-based RUL, the PHM08 winner) and the two estimates are
  averaged. The band comes from quantiles of the estimator's own prequential
  errors on each new failure, before it is learned (conformal style).

>>> feats, model = RulFeatures(), RulModel(min_failures=1)
>>> for hour in range(40):
...     x = feats.add(hour * 3600.0, {"temp_c": 50.0 + hour, "rpm": 1500.0})
>>> sorted(x)  # the constant rpm gives no features
['temp_c:mean_15h', 'temp_c:mean_30h', 'temp_c:mean_5h']
>>> model.learn_failure(feats.history(), failed_at=39 * 3600.0)
>>> model.failures
1
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

HOUR = 3600.0
Vector = Mapping[str, float]
History = Sequence[tuple[float, Vector]]
F32 = NDArray[np.float32]
F64 = NDArray[np.float64]


def _is_constant(lo: float, hi: float) -> bool:
    return hi - lo <= 1e-9 * max(1.0, abs(hi))


class RulFeatures:
    """Per-asset step aggregation, multi-scale level features and a compact labelled-later history."""

    def __init__(
        self,
        step_s: float = HOUR,
        windows_s: Sequence[float] = (5 * HOUR, 15 * HOUR, 30 * HOUR),
        keep: int = 200,
    ) -> None:
        if step_s <= 0 or keep < 1 or not windows_s:
            raise ValueError("step_s and keep must be positive and windows_s not empty")
        self.step_s = step_s
        self.keep = keep
        self._windows = tuple(max(1, round(w / step_s)) for w in windows_s)
        self._suffixes = tuple(f":mean_{w / HOUR:g}h" for w in windows_s)
        self._capacity = keep
        self._sensors: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        """Forget the asset's past (after a repair); the sensor columns stay."""
        n = len(self._sensors)
        self._steps = np.zeros((self._capacity, n), dtype=np.float32)  # step means less _ref, oldest first
        # Per sensor: a value of this life taken off the stored step means, so that float32 keeps
        # the small changes of a large level; taken again from the life's first step (after a
        # repair, or once a type's regimes are found, the features may come in other units).
        self._ref = np.full(n, math.nan)
        self._ts = np.zeros(self._capacity, dtype=np.float64)
        self._count = 0  # rows of _steps in use
        self._lo = np.full(n, np.inf)
        self._hi = np.full(n, -np.inf)
        self._acc_sum = [0.0] * n  # the open step; plain lists are the cheapest per reading
        self._acc_n = [0] * n
        self._boundary: float | None = None

    def _column(self, name: str, value: float) -> int:
        col = self._sensors.get(name)
        if col is None:
            col = self._sensors[name] = len(self._sensors)
            # A new sensor's past is taken to be its first value, so windows stay defined.
            self._ref = np.append(self._ref, value)
            self._steps = np.hstack([self._steps, np.zeros((self._capacity, 1), dtype=np.float32)])
            self._lo, self._hi = np.append(self._lo, np.inf), np.append(self._hi, -np.inf)
            self._acc_sum.append(0.0)
            self._acc_n.append(0)
        return col

    def add(self, ts: float, reading: Mapping[str, float]) -> dict[str, float] | None:
        """Take one reading; return the step's features when ``ts`` reaches the step boundary."""
        for name, value in reading.items():
            col = self._column(name, value)
            self._acc_sum[col] += value
            self._acc_n[col] += 1
        if self._boundary is None:
            self._boundary = math.ceil(ts / self.step_s) * self.step_s
        if ts < self._boundary:
            return None
        self._close_step(ts)
        self._boundary = (math.floor(ts / self.step_s) + 1) * self.step_s
        return self._features(self._count - 1)

    def _close_step(self, ts: float) -> None:
        counts = np.array(self._acc_n, dtype=np.float64)
        seen = counts > 0
        means = np.where(seen, np.array(self._acc_sum) / np.maximum(counts, 1.0), 0.0)
        if self._count:  # a sensor silent during the step keeps its last value
            means = np.where(seen, means, self._steps[self._count - 1] + self._ref)
        else:  # the life's first step
            self._ref = np.where(np.isnan(self._ref), means, self._ref)
        if self._count == self._capacity:
            self._steps[:-1], self._ts[:-1] = self._steps[1:], self._ts[1:]
            self._count -= 1
        self._steps[self._count], self._ts[self._count] = means - self._ref, ts
        self._count += 1
        self._lo = np.where(seen, np.minimum(self._lo, means), self._lo)
        self._hi = np.where(seen, np.maximum(self._hi, means), self._hi)
        self._acc_sum = [0.0] * len(self._acc_sum)
        self._acc_n = [0] * len(self._acc_n)

    def _varying(self) -> list[tuple[str, int]]:
        return [(n, c) for n, c in self._sensors.items() if not _is_constant(self._lo[c], self._hi[c])]

    def _features(self, row: int) -> dict[str, float]:
        varying = self._varying()
        cols = [c for _, c in varying]
        steps, ref = self._steps[: row + 1, cols], self._ref[cols]
        means = [(steps[-w:].mean(axis=0, dtype=np.float64) + ref).tolist() for w in self._windows]
        return {
            name + suffix: values[j]
            for j, (name, _) in enumerate(varying)
            for values, suffix in zip(means, self._suffixes, strict=True)
        }

    def history(self, last: int | None = None) -> list[tuple[float, dict[str, float]]]:
        """The vectors of the last ``min(last, keep)`` steps with their ts, oldest first.

        Rebuilt from the stored step means; the oldest few, whose windows reach beyond the kept
        steps, use the part of the window that is kept.
        """
        n = min(self._count, self.keep if last is None else max(last, 0))
        if n == 0:
            return []
        varying = self._varying()
        cols = [c for _, c in varying]
        sums = np.cumsum(np.vstack([np.zeros((1, len(cols))), self._steps[: self._count, cols]]), axis=0)
        ref = self._ref[cols]
        rows = np.arange(self._count - n, self._count)
        per_window = []
        for w in self._windows:
            lo = np.maximum(rows + 1 - w, 0)
            per_window.append(((sums[rows + 1] - sums[lo]) / (rows + 1 - lo)[:, None] + ref).tolist())
        keys = [[name + suffix for suffix in self._suffixes] for name, _ in varying]
        out: list[tuple[float, dict[str, float]]] = []
        for i, row in enumerate(rows.tolist()):
            vector = {
                key: values[i][j]
                for j, names in enumerate(keys)
                for key, values in zip(names, per_window, strict=True)
            }
            out.append((float(self._ts[row]), vector))
        return out


class _Quantiles:
    """Running quantiles of a bounded, recent sample (the last ``size`` values)."""

    def __init__(self, size: int = 2000) -> None:
        self.values = np.zeros(0, dtype=np.float32)
        self.size = size

    def update(self, values: F64) -> None:
        self.values = np.concatenate([self.values, values.astype(np.float32)])[-self.size :]

    def get(self, q: float) -> float:
        return float(np.quantile(self.values, q))


class RulModel:
    """Fleet-level RUL in hours from ``RulFeatures`` vectors, learned online at each failure."""

    def __init__(
        self,
        cap_hours: float = 125.0,
        min_failures: int = 5,
        components: int = 400,
        gamma: float = 0.01,
        ridge: float = 10.0,
        match_steps: int = 60,
        neighbours: int = 10,
        max_library: int = 200,
        band: tuple[float, float] = (0.05, 0.95),
        clip_z: float = 4.0,
        seed: int = 0,
    ) -> None:
        self.cap = cap_hours
        self.min_failures = max(1, min_failures)
        self.components, self.gamma, self.ridge, self.seed = components, gamma, ridge, seed
        self.match_steps, self.neighbours, self.max_library = match_steps, neighbours, max_library
        self.band, self.clip_z = band, clip_z
        self.failures = 0
        self.revision = 0  # bumped whenever the learned weights change
        self._pending: list[tuple[list[Vector], F64]] = []  # failures before the scalers are fixed
        self._names: list[str] = []
        self._library: list[tuple[F32, F32]] = []  # per failure: standardised vectors, hours to failure
        self._lib_hi: list[F64] = []  # indicator of each library entry, refreshed now and then
        self._absorbed_since_refresh = 0
        self._concat: tuple[F64, F64] | None = None  # all library indicators, their running sum of squares
        self._weights: F64 | None = None
        self._residuals = [_Quantiles() for _ in range(3)]  # by estimate: near, mid, far

    # -- feature map ---------------------------------------------------------------------------

    def _freeze(self) -> None:
        """Fix the scalers and the random features from the first failures, then learn those."""
        names = sorted({name for vectors, _ in self._pending for x in vectors for name in x})
        raw = np.vstack([self._matrix_of(vectors, names, standardise=False) for vectors, _ in self._pending])
        mean, std = np.nanmean(raw, axis=0), np.nanstd(raw, axis=0)
        useful = std > 1e-6 * (np.abs(mean) + 1.0)  # constant across the fleet: no information
        self._names = [n for n, u in zip(names, useful, strict=True) if u]
        self._mean, self._std = mean[useful], std[useful]
        rng = np.random.default_rng(self.seed)
        d = len(self._names)
        self._proj = rng.normal(0.0, math.sqrt(2.0 * self.gamma), (d, self.components))
        self._phase = rng.uniform(0.0, 2.0 * math.pi, self.components)
        z = np.vstack([self._matrix_of(vectors, self._names) for vectors, _ in self._pending])
        waves = np.cos(z @ self._proj + self._phase)
        self._wave_mean, self._wave_std = waves.mean(axis=0), waves.std(axis=0) + 1e-9
        size = d + self.components + 1
        self._gram = np.zeros((size, size))
        self._moment = np.zeros(size)
        pending, self._pending = self._pending, []
        self._absorb(pending)

    def _matrix_of(self, vectors: Sequence[Vector], names: Sequence[str], standardise: bool = True) -> F64:
        rows = [[x.get(name, math.nan) for name in names] for x in vectors]
        out = np.array(rows, dtype=np.float64).reshape(len(vectors), len(names))
        if not standardise:
            return out
        z = np.clip((out - self._mean) / self._std, -self.clip_z, self.clip_z)
        return np.where(np.isnan(z), 0.0, z)  # a missing feature is taken at the fleet mean

    def _expand(self, z: F64) -> F64:
        waves = (np.cos(z @ self._proj + self._phase) - self._wave_mean) / self._wave_std
        return np.hstack([z, waves, np.ones((len(z), 1))])

    def _indicator(self, z: F64) -> F64:
        assert self._weights is not None
        return np.asarray(self._expand(z) @ self._weights, dtype=np.float64)

    # -- learning ------------------------------------------------------------------------------

    def learn_failure(self, history: History, failed_at: float) -> None:
        """Every vector of the failed asset's history learns ``min(hours to failure, cap)``."""
        if not history:
            return
        vectors = [x for _, x in history]
        hours = np.array([(failed_at - ts) / HOUR for ts, _ in history])
        self.failures += 1
        if self._weights is None:
            self._pending.append((vectors, hours))
            if self.failures >= self.min_failures:
                self._freeze()
            return
        self._score_before_learning(self._matrix_of(vectors, self._names), hours)
        self._absorb([(vectors, hours)])

    def _absorb(self, failures: Sequence[tuple[Sequence[Vector], F64]]) -> None:
        """Add failed assets to the sufficient statistics and the library; one solve for all."""
        for vectors, hours in failures:
            z = self._matrix_of(vectors, self._names)
            phi = self._expand(z)
            self._gram += phi.T @ phi
            self._moment += phi.T @ np.minimum(hours, self.cap)
            self._library.append((z.astype(np.float32), hours.astype(np.float32)))
        penalty = np.full(len(self._moment), self.ridge)
        penalty[-1] = 0.0  # the intercept is not shrunk
        solved = np.linalg.solve(self._gram + np.diag(penalty), self._moment)
        self._weights = np.asarray(solved, dtype=np.float64)
        del self._library[: -self.max_library]
        fresh = min(len(failures), len(self._library))
        self._lib_hi = self._lib_hi[len(self._lib_hi) + fresh - len(self._library) :]
        self._lib_hi += [self._indicator(z.astype(np.float64)) for z, _ in self._library[-fresh:]]
        self._absorbed_since_refresh += len(failures)
        # The weights move less and less with each failure: re-scoring the whole library
        # after every tenth of its size keeps learn_failure cheap (amortised O(1) per failure).
        if self._absorbed_since_refresh >= max(1, len(self._library) // 10):
            self._lib_hi = [self._indicator(z.astype(np.float64)) for z, _ in self._library]
            self._absorbed_since_refresh = 0
        self._concat = None
        self.revision += 1  # indicators computed before this are stale

    def _score_before_learning(self, z: F64, hours: F64, stride: int = 5) -> None:
        """Prequential errors of the full estimate along the failed asset's life feed the band."""
        indicator = self._indicator(z)
        truth, estimates = [], []
        for end in range(stride - 1, len(z), stride):
            estimates.append(self._estimate(indicator[max(0, end + 1 - self.match_steps) : end + 1]))
            truth.append(min(hours[end], self.cap))
        errors = np.array(truth) - np.array(estimates)
        bins = self._bin(np.array(estimates))
        for b, quantiles in enumerate(self._residuals):
            quantiles.update(errors[bins == b])

    def _bin(self, estimates: F64) -> NDArray[np.int64]:
        return np.minimum((estimates * 3.0 / self.cap).astype(np.int64), 2)

    # -- prediction ----------------------------------------------------------------------------

    def _library_sums(self) -> tuple[F64, F64]:
        if self._concat is None:
            hi = np.clip(np.concatenate(self._lib_hi), -0.2 * self.cap, 1.2 * self.cap)
            self._concat = hi, np.concatenate([[0.0], np.cumsum(hi * hi)])
        return self._concat

    def _match(self, recent: F64) -> float | None:
        """RUL by similarity: the closest stretch of each failed asset's trajectory, k best averaged."""
        hi, squares = self._library_sums()
        w = len(recent)
        if len(hi) < w:
            return None
        # Σ(g - h)² over every window of g at once: Σg² from the running sum, Σgh by correlation.
        distance = squares[w:] - squares[:-w] - 2.0 * np.correlate(hi, recent, mode="valid") + recent @ recent
        best: list[tuple[float, float]] = []
        start = 0
        for _, hours in self._library:
            n = len(hours)
            if n >= w:
                offset = int(np.argmin(distance[start : start + n - w + 1]))
                best.append((float(distance[start + offset]), min(float(hours[offset + w - 1]), self.cap)))
            start += n
        if not best:
            return None
        best.sort()
        return float(np.mean([rul for _, rul in best[: self.neighbours]]))

    def _estimate(self, recent: F64) -> float:
        recent = np.clip(recent, -0.2 * self.cap, 1.2 * self.cap)
        own = float(recent[-1])
        matched = self._match(recent) if len(recent) > 1 else None
        estimate = own if matched is None else 0.5 * (own + matched)
        return min(max(estimate, 0.0), self.cap)

    @property
    def trained(self) -> bool:
        return self._weights is not None

    def indicators(self, vectors: Sequence[Vector]) -> F64:
        """The learned health indicator (in hours) of each vector, for ``predict_recent``."""
        return self._indicator(self._matrix_of(vectors, self._names))

    def predict(self, x: Vector, history: History | None = None) -> tuple[float, float, float] | None:
        """(rul, low, high) in hours for the asset whose latest vector is ``x``; None while untrained.

        With ``history`` (the asset's recent steps ending with the step of ``x``, as
        ``RulFeatures.history()`` gives them right after ``add`` returned ``x``) the trajectory is
        matched against the failed assets' trajectories as well.
        """
        if self._weights is None:
            return None
        vectors: list[Vector] = [v for _, v in history[-self.match_steps :]] if history else [x]
        vectors[-1] = x
        return self.predict_recent(self.indicators(vectors))

    def predict_recent(self, recent: F64) -> tuple[float, float, float] | None:
        """``predict`` from the asset's recent indicators (oldest first, the latest last).

        Lets a caller keep the trajectory and add one indicator a step instead of rebuilding
        ``match_steps`` vectors each time; ``revision`` tells when the kept values are stale.
        """
        if self._weights is None or not len(recent):
            return None
        rul = self._estimate(np.asarray(recent[-self.match_steps :], dtype=np.float64))
        quantiles = self._residuals[int(self._bin(np.array([rul]))[0])]
        if len(quantiles.values) < 20:  # too few own errors yet: a wide, proportional band
            low, high = 0.5 * rul, min(1.5 * rul + 0.1 * self.cap, self.cap)
        else:
            low, high = rul + quantiles.get(self.band[0]), rul + quantiles.get(self.band[1])
        return rul, max(min(low, rul), 0.0), max(high, rul)
