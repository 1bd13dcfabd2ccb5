"""Parsing the replay CSV: a header with a ``ts`` column and one column per sensor.

Pure functions, no file handling, so the parser can be fed anything in tests.

>>> layout = parse_header(["ts", "temp_c", "vibration_mm_s"])
>>> row = parse_row(["2026-11-23T18:00:00Z", "61.2", "oops"], layout)
>>> row.sample.values, row.problems
({'temp_c': 61.2}, ['vibration_mm_s: not a number: oops'])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from edge_agent.drivers.base import ConfigError
from forestall.contract import SENSOR_RE, Sample, parse_ts

TS_COLUMN = "ts"


@dataclass(frozen=True, slots=True)
class Layout:
    ts_index: int
    sensors: tuple[tuple[int, str], ...]  # (column index, sensor name)


@dataclass(frozen=True, slots=True)
class Row:
    """One parsed CSV row: ``sample`` is None when the row yields no usable value."""

    sample: Sample | None
    problems: list[str] = field(default_factory=list)


def parse_header(header: Sequence[str]) -> Layout:
    names = [cell.strip() for cell in header]
    if TS_COLUMN not in names:
        raise ConfigError(f"path: the CSV header needs a {TS_COLUMN!r} column, got {names[:10]}")
    sensors: list[tuple[int, str]] = []
    for index, name in enumerate(names):
        if name == TS_COLUMN:
            continue
        if not SENSOR_RE.fullmatch(name):
            raise ConfigError(f"path: CSV column {name[:70]!r} is not a sensor name [a-z][a-z0-9_]{{0,63}}")
        if any(name == seen for _, seen in sensors):
            raise ConfigError(f"path: CSV column {name!r} appears twice")
        sensors.append((index, name))
    if not sensors:
        raise ConfigError("path: the CSV has no sensor columns besides 'ts'")
    return Layout(ts_index=names.index(TS_COLUMN), sensors=tuple(sensors))


def parse_cell_ts(cell: str) -> float:
    """Epoch seconds or RFC 3339; ValueError otherwise."""
    text = cell.strip()
    try:
        number = float(text)
    except ValueError:
        return parse_ts(text)
    return parse_ts(number)


def parse_row(cells: Sequence[str], layout: Layout, shift: float = 0.0) -> Row:
    """Parse one data row; bad cells are dropped and reported, never raised."""
    if layout.ts_index >= len(cells):
        return Row(None, ["ts: missing"])
    try:
        ts = parse_cell_ts(cells[layout.ts_index]) + shift
    except ValueError as exc:
        return Row(None, [f"ts: {exc}"])
    values: dict[str, float] = {}
    problems: list[str] = []
    for index, name in layout.sensors:
        text = cells[index].strip() if index < len(cells) else ""
        if not text:
            continue  # a sparse CSV leaves cells empty: missing, not wrong
        try:
            value = float(text)
        except ValueError:
            problems.append(f"{name}: not a number: {text[:40]}")
            continue
        if not math.isfinite(value):
            problems.append(f"{name}: not finite: {text[:40]}")
            continue
        values[name] = value
    return Row(Sample(ts, values) if values else None, problems)
