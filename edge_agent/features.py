"""Features of one window of a high-rate channel (vibration): pure numpy, no I/O.

- ``rms``: root mean square, ``sqrt(mean(x²))``.
- ``peak``: largest absolute value.
- ``crest``: ``peak / rms`` (√2 for a sine); left out when ``rms`` is 0.
- ``kurtosis``: Pearson's, ``m4 / m2²`` about the mean (3 for Gaussian noise, 1.5 for a
  sine); left out when the window is constant.
- Band energies from the real FFT, scaled by Parseval so they are shares of the window's
  mean square: bands that cover 0 Hz … Nyquist add up to ``rms²``. A band ``[lo, hi)``
  takes the bins with ``lo <= f < hi``; the Nyquist bin belongs to a band ending at Nyquist.

>>> import numpy as np
>>> rate, n = 1000.0, 1000
>>> t = np.arange(n) / rate
>>> x = 2.0 * np.sin(2 * np.pi * 50 * t)  # 50 Hz, amplitude 2
>>> scalars, bands = window_features(x, rate_hz=rate, bands_hz=[(0.0, 100.0), (100.0, 500.0)])
>>> {k: round(v, 3) for k, v in scalars.items()}, [round(e, 3) for e in bands]
({'rms': 1.414, 'peak': 2.0, 'crest': 1.414, 'kurtosis': 1.5}, [2.0, 0.0])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def rms(x: FloatArray) -> float:
    """Root mean square.

    >>> rms(np.full(8, -3.0))
    3.0
    """
    return float(np.sqrt(np.mean(np.square(x))))


def peak(x: FloatArray) -> float:
    """Largest absolute value.

    >>> peak(np.array([1.0, -4.0, 2.0]))
    4.0
    """
    return float(np.max(np.abs(x)))


def kurtosis(x: FloatArray) -> float | None:
    """Pearson's kurtosis ``m4 / m2²``; None for a constant window.

    >>> kurtosis(np.array([1.0, -1.0] * 4))
    1.0
    >>> kurtosis(np.ones(4)) is None
    True
    """
    centered = x - np.mean(x)
    m2 = float(np.mean(np.square(centered)))
    if m2 <= np.finfo(np.float64).tiny or m2 <= 1e-24 * float(np.mean(np.square(x))):
        return None
    return float(np.mean(np.square(np.square(centered))) / (m2 * m2))


def band_energies(x: FloatArray, rate_hz: float, bands_hz: Sequence[tuple[float, float]]) -> list[float]:
    """Mean-square energy of ``x`` in each band ``[lo, hi)`` Hz (Parseval-scaled rFFT).

    >>> band_energies(np.ones(8), rate_hz=8.0, bands_hz=[(0.0, 1.0), (1.0, 4.0)])
    [1.0, 0.0]
    """
    n = len(x)
    spectrum = np.fft.rfft(x)
    power = np.square(np.abs(spectrum)) / (n * n)
    power[1 : (n + 1) // 2] *= 2.0  # each of these bins stands for itself and its negative twin
    freqs = np.fft.rfftfreq(n, d=1.0 / rate_hz)
    nyquist = rate_hz / 2.0
    out: list[float] = []
    for lo, hi in bands_hz:
        mask = (freqs >= lo) & (freqs < hi)
        if hi >= nyquist:  # the top bin (Nyquist for even n) belongs to the band reaching it
            mask[-1] |= bool(freqs[-1] >= lo)
        out.append(float(np.sum(power[mask])))
    return out


def window_features(
    x: Sequence[float] | FloatArray,
    *,
    rate_hz: float | None = None,
    bands_hz: Sequence[tuple[float, float]] = (),
) -> tuple[dict[str, float], list[float]]:
    """``rms``, ``peak``, ``crest``, ``kurtosis`` (the last two when defined) and the band energies."""
    window = np.asarray(x, dtype=np.float64)
    if window.size == 0:
        raise ValueError("an empty window has no features")
    level = rms(window)
    out = {"rms": level, "peak": peak(window)}
    if level > 0:
        out["crest"] = out["peak"] / level
    kurt = kurtosis(window)
    if kurt is not None:
        out["kurtosis"] = kurt
    if not bands_hz:
        return out, []
    if rate_hz is None:
        raise ValueError("band energies need rate_hz")
    return out, band_energies(window, rate_hz, bands_hz)
