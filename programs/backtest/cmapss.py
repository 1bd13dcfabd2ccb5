"""``forestall backtest cmapss``: NASA C-MAPSS turbofan run-to-failure data through the live predictor.

Prequential and online: the training engines stream in as a fleet, one cycle at a time, and
each engine's failure becomes a label when it happens (its last cycle). Then each test engine
is streamed the same way and, at its last cycle, the predictor's time to failure is its
predicted remaining useful life (RUL). One cycle is one hour of event time. Scores follow the
literature: RMSE against the true RUL capped at 125 cycles, prediction at the last test cycle.
"""

from __future__ import annotations

import gzip
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from predictor.engine import Predictor
from predictor.models import MAX_TTF_HOURS

HOUR = 3600.0
RUL_CAP = 125.0
TENANT = "cmapss"
ASSET_TYPE = "turbofan"
COLUMNS = ["op_setting_1", "op_setting_2", "op_setting_3"] + [f"sensor_{i}" for i in range(1, 22)]


@dataclass(frozen=True, slots=True)
class Engine:
    unit: int
    rows: list[dict[str, float]]  # one per cycle, in order


# Where NASA publishes C-MAPSS: a zip holding CMAPSSData.zip, which holds the text files.
SOURCE_URL = (
    "https://phm-datasets.s3.amazonaws.com/NASA/6.+Turbofan+Engine+Degradation+Simulation+Data+Set.zip"
)
# SHA-256 of each NASA file's text, uncompressed, with CRLF read as LF (so a gzipped copy or one
# unpacked on Windows checks the same). Only the subsets the README's figures use are recorded.
NASA_SHA256 = {
    "train_FD001.txt": "963b5e22825b34d8b21c69e1aeb4af3e647050eb672ee8834ba4b5d91d2de0f8",
    "test_FD001.txt": "3cda7109ce17bafb5443f2ac926cfcf88154b941b8c4cf95eb55d1ddd6f52851",
    "RUL_FD001.txt": "a19c8ec94931949d0485bdc35118206e9c81c4547b422efb9cf86f4ceddbceca",
    "train_FD003.txt": "2abbe9968cc5e8eb091980f51b20f62bb4127336d3482cb52071d53bf23329e2",
    "test_FD003.txt": "299babd63c8d987cef079c4a425429f33b3a34797d803bbe2ad48c29dbd0d790",
    "RUL_FD003.txt": "df1e0566306b174a2de41c67a3e7a51877889598b78643fc3e5685259091b7cb",
}


def nasa_name(path: Path) -> str | None:
    """The NASA file ``path`` claims to be by its name (``train_FD001.txt[.gz]``), if any."""
    name = path.name.removesuffix(".gz")
    return name if name in NASA_SHA256 else None


def text_sha256(path: Path) -> str:
    """SHA-256 of the file's text: gunzipped if gzipped, CRLF read as LF."""
    data = gzip.decompress(path.read_bytes()) if _gzipped(path) else path.read_bytes()
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def verify(path: Path) -> None:
    """Refuse a missing file, and a file named like a NASA file whose text is not NASA's."""
    if not path.is_file():
        hint = f"; NASA publishes it in {SOURCE_URL} (README: Get the C-MAPSS data)"
        raise FileNotFoundError(f"no such file: {path}" + (hint if nasa_name(path) else ""))
    name = nasa_name(path)
    if name is not None and text_sha256(path) != NASA_SHA256[name]:
        raise ValueError(
            f"{path} is not NASA's {name} (its SHA-256 differs; a truncated or edited copy?): "
            f"download it again from {SOURCE_URL} (README: Get the C-MAPSS data)"
        )


def _gzipped(path: Path) -> bool:
    with path.open("rb") as probe:
        return probe.read(2) == b"\x1f\x8b"


def _open(path: Path) -> TextIO:
    verify(path)
    return gzip.open(path, "rt", encoding="utf-8") if _gzipped(path) else path.open(encoding="utf-8")


def read_engines(path: Path) -> list[Engine]:
    """Space-separated rows: unit, cycle, 3 operating settings, 21 sensors (gzip or plain)."""
    rows: dict[int, list[dict[str, float]]] = {}
    with _open(path) as fh:
        for number, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 + len(COLUMNS):
                raise ValueError(f"{path}:{number}: expected {2 + len(COLUMNS)} columns, got {len(parts)}")
            unit = int(parts[0])
            rows.setdefault(unit, []).append(dict(zip(COLUMNS, map(float, parts[2:]), strict=True)))
    return [Engine(unit, r) for unit, r in sorted(rows.items())]


def read_rul(path: Path) -> list[float]:
    with _open(path) as fh:
        return [float(line.split()[0]) for line in fh if line.strip()]


def _cycles(engines: list[Engine], offset: float) -> Iterator[tuple[float, Engine, int]]:
    """Interleave the engines like a fleet: cycle c of every engine that has one, then c + 1."""
    longest = max(len(e.rows) for e in engines)
    for c in range(longest):
        for engine in engines:
            if c < len(engine.rows):
                yield offset + c * HOUR, engine, c


def train(predictor: Predictor, engines: list[Engine]) -> float:
    """Stream the run-to-failure engines; each failure is labelled when it happens. Returns the end time."""
    end = 0.0
    for ts, engine, c in _cycles(engines, 0.0):
        asset = f"train-{engine.unit}"
        predictor.observe(TENANT, asset, ASSET_TYPE, ts, engine.rows[c])
        if c == len(engine.rows) - 1:
            predictor.label(TENANT, asset, ASSET_TYPE, "failure", ts)
        end = max(end, ts)
    return end


def predict(
    predictor: Predictor, engines: list[Engine], start: float
) -> dict[int, tuple[float, float, float]]:
    """Stream the test engines; time to failure and its band at each one's last cycle, in cycles."""
    predictions: dict[int, tuple[float, float, float]] = {}
    for ts, engine, c in _cycles(engines, start):
        health = predictor.observe(TENANT, f"test-{engine.unit}", ASSET_TYPE, ts, engine.rows[c])
        if c == len(engine.rows) - 1:
            ttf = health.ttf_hours if health.ttf_hours is not None else MAX_TTF_HOURS
            low = health.ttf_low_hours if health.ttf_low_hours is not None else ttf
            high = health.ttf_high_hours if health.ttf_high_hours is not None else ttf
            predictions[engine.unit] = (ttf, low, high)
    return predictions


def rmse(errors: list[float]) -> float:
    return math.sqrt(sum(e * e for e in errors) / len(errors))


def backtest_cmapss(
    train_path: Path, test_path: Path, rul_path: Path, predictions_path: Path | None
) -> dict[str, Any]:
    train_engines, test_engines, truth = read_engines(train_path), read_engines(test_path), read_rul(rul_path)
    if len(truth) != len(test_engines):
        raise ValueError(f"{rul_path} has {len(truth)} RUL values for {len(test_engines)} test engines")
    predictor = Predictor()
    end = train(predictor, train_engines)
    predicted = predict(predictor, test_engines, start=end + 1000 * HOUR)
    if predictions_path is not None:
        with predictions_path.open("w") as fh:
            fh.write("unit,predicted_rul\n")
            for unit in sorted(predicted):
                fh.write(f"{unit},{predicted[unit][0]:.3f}\n")
    units = [e.unit for e in test_engines]
    capped_truth = [min(t, RUL_CAP) for t in truth]
    raw = [predicted[u][0] for u in units]
    # The band is the model's own: trained on RUL capped at 125, so its bounds are capped too.
    bands = [predicted[u][1:] for u in units]
    covered = sum(1 for (lo, hi), t in zip(bands, capped_truth, strict=True) if lo - 0.5 <= t <= hi + 0.5)
    return {
        "backtest": "cmapss",
        "train_engines": len(train_engines),
        "test_engines": len(test_engines),
        "rmse_capped_125": round(
            rmse([min(p, RUL_CAP) - t for p, t in zip(raw, capped_truth, strict=True)]), 3
        ),
        "rmse_uncapped_prediction": round(rmse([p - t for p, t in zip(raw, capped_truth, strict=True)]), 3),
        "band_coverage": round(covered / len(units), 3),
        "model_version": predictor.version,
        "note": "truth capped at 125 cycles; prediction at the last test cycle; 1 cycle = 1 h of event time",
    }
