"""What the failures of an equipment type teach before there are enough to learn a RUL model.

Every failed life of a type leaves its deviation trajectory: the asset's hourly deviations from
its own normal (``z``, in healthy spreads, smoothed), up to the failure. From them:

- the type's *failure signature*: per sensor, the mean deviation at failure. Sensors that did
  not move at failure weigh nothing, whatever the type and its sensor names;
- a *health index* for any asset, ``HI = z·f / f·f`` for the signature ``f``: about 0 when
  healthy and about 1 where the failed assets stood when they failed;
- a time to failure by *crossing*: for each failed life, how long it still ran after its
  health index first reached the asset's current one. These times are a sample of the
  asset's time to failure: their spread is the uncertainty, and one failure is enough to
  start (the probability is then shrunk towards even odds by ``PRIOR_LIVES``, as one life says
  little). An index of at most
  ``HEALTHY_INDEX`` is healthy scatter, not a point on a failed life's path: such an asset
  has all of that life ahead of it, not the hours that life had left when it last sat there
  (a life whose index sat below zero for a while, its normal not yet settled, would otherwise
  make every healthy asset of the type look a day from failure).

>>> lib = FailureLibrary()
>>> life = [{"temp": h / 50.0, "rpm": 0.0} for h in range(201)]  # 4 spreads at failure, after 200 h
>>> lib.learn(life)
>>> index, mode = lib.index({"temp": 2.0, "rpm": 0.3})
>>> round(index, 2), mode
(0.5, 0)
>>> lib.times_to_failure(0.5)
[101.0]
>>> round(lib.probability_within(0.9, 0, horizon_hours=48.0), 2)  # one life: never sure
0.75
>>> lib.probability_within(0.5, 0, 48.0) < 0.3
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
AT_FAILURE_HOURS = 3  # the signature is the mean over the last hours before a failure
RELATIVE_SPREAD = 0.25  # one failed life's time to failure, as a guide for another's, is this uncertain
ABSOLUTE_SPREAD_H = 4.0
HEALTHY_INDEX = 0.2  # a fifth of the way to the failure level: within healthy scatter, not on the path
MIN_LIVES_FOR_SPREAD = 3  # lives of a mode before their scatter at failure weighs its sensors
PRIOR_LIVES = 1.0  # the crossing's probability starts as if this many lives had been even odds
SPREAD_FLOOR = 0.1  # of the mean square failure level: the least scatter a sensor's failure level is given


class FailureLibrary:
    """Failed lives of one equipment type: their hourly deviation trajectories up to failure.

    Lives that ended in much the same place (cosine similarity of where their sensors stood
    at failure at least ``similarity``) share a failure *mode* and its signature; an asset is
    judged against the mode it is heading for (its largest health index).
    """

    def __init__(self, max_lives: int = 100, max_modes: int = 4, similarity: float = 0.8) -> None:
        self.max_lives, self.max_modes, self.similarity = max_lives, max_modes, similarity
        self.names: list[str] = []
        self._lives: list[F32] = []  # hours × len(names); the last row is the hour before failure
        self._modes: list[int] = []  # mode of each life
        self._signatures: list[F64] = []  # per mode: f / f·f, so that f·z is the health index
        self._indices: list[F64] = []  # each life's health index trajectory, against its mode

    @property
    def failures(self) -> int:
        return len(self._lives)

    @property
    def modes(self) -> int:
        return len(self._signatures)

    def learn(self, trajectory: Sequence[Mapping[str, float]]) -> None:
        """One failed life: its hourly smoothed deviations, oldest first, the last just before failure."""
        if not trajectory:
            return
        new = sorted({name for row in trajectory for name in row} - set(self.names))
        if new:
            self.names += new
            self._lives = [
                np.hstack([life, np.zeros((len(life), len(new)), np.float32)]) for life in self._lives
            ]
        matrix = np.array([[row.get(n, 0.0) for n in self.names] for row in trajectory], dtype=np.float32)
        self._lives.append(matrix)
        self._modes.append(self._mode_of(_end(matrix)))
        del self._lives[: -self.max_lives]
        del self._modes[: -self.max_lives]
        self._refresh()

    def _mode_of(self, end: F64) -> int:
        ends = [_end(life) for life in self._lives[:-1]]
        best, best_similarity = -1, -1.0
        for mode in sorted(set(self._modes)):
            centre = np.mean([e for e, m in zip(ends, self._modes, strict=True) if m == mode], axis=0)
            similarity = float(end @ centre) / (float(np.linalg.norm(end) * np.linalg.norm(centre)) + 1e-12)
            if similarity > best_similarity:
                best, best_similarity = mode, similarity
        if best < 0 or (best_similarity < self.similarity and len(set(self._modes)) < self.max_modes):
            return max(self._modes, default=-1) + 1
        return best

    def _refresh(self) -> None:
        ends = [_end(life) for life in self._lives]
        renumber = {mode: i for i, mode in enumerate(sorted(set(self._modes)))}
        self._modes = [renumber[m] for m in self._modes]
        self._signatures = []
        for mode in range(len(renumber)):
            members = np.array([e for e, m in zip(ends, self._modes, strict=True) if m == mode])
            self._signatures.append(_weights(members))
        self._indices = [life @ self._signatures[m] for life, m in zip(self._lives, self._modes, strict=True)]

    def signature(self, mode: int = 0) -> dict[str, float]:
        """Per sensor, the mean deviation at failure in ``mode`` (the type's failure levels)."""
        if mode >= len(self._signatures):
            return {}
        f = self._signatures[mode]
        scale = 1.0 / max(float(f @ f), 1e-12)
        return {n: float(v) * scale for n, v in zip(self.names, f, strict=True)}

    def index(self, deviation: Mapping[str, float]) -> tuple[float, int]:
        """The health index of a deviation (0 healthy, about 1 where failed assets failed) and its mode."""
        if not self._signatures:
            return 0.0, -1
        z = np.array([deviation.get(n, 0.0) for n in self.names])
        indices = [float(z @ f) for f in self._signatures]
        mode = int(np.argmax(indices))
        return indices[mode], mode

    def times_to_failure(self, index: float, mode: int = 0) -> list[float]:
        """Per failed life of ``mode``: the hours it ran on after its health index first reached ``index``."""
        out = []
        for trajectory, m in zip(self._indices, self._modes, strict=True):
            if m != mode:
                continue
            if index <= HEALTHY_INDEX:  # not yet on the path that life took: all of it ahead
                out.append(float(len(trajectory)))
                continue
            reached = np.flatnonzero(trajectory >= index)
            out.append(float(len(trajectory) - reached[0]) if len(reached) else 0.0)
        return out

    def probability_within(self, index: float, mode: int, horizon_hours: float) -> float | None:
        """P(failure within ``horizon_hours``) at ``index`` of ``mode``; None before any failure."""
        samples = self.times_to_failure(index, mode)
        if not samples:
            return None
        total = 0.0
        for hours in samples:
            spread = RELATIVE_SPREAD * hours + ABSOLUTE_SPREAD_H
            total += 0.5 * math.erfc((hours - horizon_hours) / (spread * math.sqrt(2.0)))
        # Half a life's worth of "as likely as not" beside the n lives: one life (or three) that all
        # failed soon after this index never make it sure (0.75 from one, 0.875 from three), while
        # a hundred lives say what they say. The first failures of a fleet are its fastest-wearing
        # machines, and taken at their word they had every peer at this index "a day from failure".
        return (total + PRIOR_LIVES * 0.5) / (len(samples) + PRIOR_LIVES)

    def median_time_to_failure(self, index: float, mode: int) -> float | None:
        samples = self.times_to_failure(index, mode)
        return float(np.median(samples)) if samples else None


def _weights(ends: F64) -> F64:
    """The health index weights of one mode from where its lives stood at failure (lives × sensors).

    Each sensor weighs its mean failure level over how much that level varied from life to life
    (with a floor, so one or two lives do not make a sensor infinitely sure): a sensor that
    always failed at the same level is a threshold worth watching; one that merely drifted a
    long way in every life, whatever ended it, says less about when. Scaled so that the mean
    failure level has index 1.
    """
    level = ends.mean(axis=0)
    spread = ends.var(axis=0) if len(ends) >= MIN_LIVES_FOR_SPREAD else np.zeros_like(level)
    floor = SPREAD_FLOOR * float(level @ level) / max(len(level), 1) + 1e-12
    weights = level / (spread + floor)
    scale = float(weights @ level)
    return weights / scale if scale > 1e-12 else np.zeros_like(level)


def _end(life: F32) -> F64:
    return np.asarray(life[-AT_FAILURE_HOURS:].mean(axis=0), dtype=np.float64)
