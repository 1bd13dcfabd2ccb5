"""Hand-built InfluxDB line protocol (measured ~4x faster than influxdb-client's ``Point``).

Escaping follows influxdb-client's ``Point`` exactly (the property tests compare the two):
measurement escapes commas and spaces; tag keys, tag values and field keys also escape
equals signs; newlines and tabs become ``\\n``/``\\t`` (line protocol cannot carry them);
a tag value ending in a backslash gets a trailing space so it cannot escape the separator.
Fields are floats only (docs/ARCHITECTURE.md, storage); non-finite values are dropped, and a point left
without fields is skipped, as the server would reject it. Timestamps are nanoseconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from forestall.contract import Sample
from forestall.series import Point, SeriesTags

_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})


def escape_measurement(name: str) -> str:
    return name.translate(_MEASUREMENT)


@lru_cache(maxsize=4096)  # sensor names repeat in every sample; escaping them once is most of the gain
def escape_key(key: str) -> str:
    return key.translate(_KEY)


def escape_tag_value(value: str) -> str:
    escaped = value.translate(_KEY)
    return escaped + " " if escaped.endswith("\\") else escaped


def format_float(value: float) -> str:
    text = str(float(value))
    return text[:-2] if text.endswith(".0") else text


def ns(ts: float) -> int:
    """Epoch seconds to nanoseconds via microseconds, which a double holds exactly."""
    return round(ts * 1_000_000) * 1000


def tag_set(tags: Iterable[tuple[str, str]]) -> str:
    """``,k=v,…`` sorted by key (the order InfluxDB prefers); empty values are left out."""
    return "".join(f",{escape_key(k)}={escape_tag_value(v)}" for k, v in sorted(tags) if v != "")


def field_set(fields: Mapping[str, float]) -> str:
    parts = []
    for key in sorted(fields):
        value = float(fields[key])
        if math.isfinite(value):
            text = repr(value)
            parts.append(f"{escape_key(key)}={text[:-2] if text.endswith('.0') else text}")
    return ",".join(parts)


def encode_samples(tags: SeriesTags, samples: Sequence[Sample]) -> list[str]:
    head = "telemetry" + tag_set(
        [
            ("asset", tags.asset),
            ("asset_type", tags.asset_type),
            ("customer", tags.customer),
            ("site", tags.site),
            ("tenant", tags.tenant),
        ]
    )
    lines = []
    for sample in samples:
        fields = field_set(sample.values)
        if fields:
            lines.append(f"{head} {fields} {ns(sample.ts)}")
    return lines


def encode_points(points: Sequence[Point]) -> list[str]:
    lines = []
    for point in points:
        fields = field_set(point.fields)
        if fields:
            head = escape_measurement(point.measurement) + tag_set(point.tags.items())
            lines.append(f"{head} {fields} {ns(point.ts)}")
    return lines
