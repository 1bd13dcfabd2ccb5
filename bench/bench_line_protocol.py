"""Encode cost of one 50-sample telemetry batch: our line protocol vs influxdb-client's ``Point``.

Run: .venv/bin/python bench/bench_line_protocol.py [--batches N]
Prints µs per batch for each encoder; never asserts a time (STYLE.md habit 9).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from influxdb_client.client.write.point import Point

from forestall.contract import Sample
from forestall.series import SeriesTags
from ingest.store.influxdb.lineproto import encode_samples

TAGS = SeriesTags("acme", "pump-0042", "centrifugal pump", "customer-17", "north site")
BATCH = [
    Sample(1_795_460_400.0 + i, {"temp_c": 61.2 + i / 10, "vibration_mm_s": 2.8, "current_a": 12.25})
    for i in range(50)
]


def ours() -> str:
    return "\n".join(encode_samples(TAGS, BATCH))


def client() -> str:
    points = []
    for sample in BATCH:
        point = Point("telemetry")
        for key in ("tenant", "asset", "asset_type", "customer", "site"):
            point.tag(key, getattr(TAGS, key))
        for name, value in sample.values.items():
            point.field(name, value)
        points.append(point.time(round(sample.ts * 1_000_000) * 1000).to_line_protocol())
    return "\n".join(points)


def per_batch_us(encode: object, batches: int) -> float:
    assert callable(encode)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(batches):
            encode()
        best = min(best, (time.perf_counter() - start) / batches * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=2000)
    args = parser.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"hand-built line protocol: {per_batch_us(ours, args.batches):8.1f} µs per 50-sample batch")
    print(f"influxdb-client Point:    {per_batch_us(client, args.batches):8.1f} µs per 50-sample batch")


if __name__ == "__main__":
    main()
