"""Predictor cost per raw sample and model state per asset (issue targets: ≤ 50 µs, ≤ 64 KB).

Streams simulated fleet readings (pumps, chillers, compressors from ``simulators.physics``)
through ``predictor.engine.Predictor`` exactly as the worker does, sample by sample, and
reports the amortised time per sample (readings are generated beforehand and not timed)
and the pickled (checkpoint) size per asset.

    python bench/bench_predictor.py --assets 10000 --hours 48
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time

from predictor.engine import Predictor
from simulators.physics import make_equipment

TYPES = ("pump", "chiller", "compressor")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--hours", type=float, default=48.0, help="simulated hours per asset")
    parser.add_argument("--interval", type=float, default=600.0, help="seconds between samples")
    args = parser.parse_args()

    predictor = Predictor()
    machines = [make_equipment(TYPES[i % 3], f"a{i:05d}", 7, 0.0) for i in range(args.assets)]
    steps = int(args.hours * 3600 / args.interval)
    timed = 0.0
    samples = 0
    for step in range(steps):
        ts = step * args.interval
        readings = [(f"a{i:05d}", TYPES[i % 3], m.read(ts)) for i, m in enumerate(machines)]
        start = time.perf_counter()
        for asset, kind, values in readings:
            predictor.observe("bench", asset, kind, ts, values)
        timed += time.perf_counter() - start
        samples += len(readings)
        if step % max(steps // 10, 1) == 0:
            rate = timed / samples * 1e6
            print(f"  {step}/{steps} steps, {samples:,} samples, {rate:.1f} µs/sample", file=sys.stderr)
    state = pickle.dumps(predictor, protocol=pickle.HIGHEST_PROTOCOL)
    sample_models = list(predictor.assets.values())[:200]
    per_asset = [len(pickle.dumps(m, protocol=pickle.HIGHEST_PROTOCOL)) for m in sample_models]
    print(
        f"command: python bench/bench_predictor.py --assets {args.assets} --hours {args.hours:g} "
        f"--interval {args.interval:g}"
    )
    print(f"samples: {samples:,} ({args.assets:,} assets × {steps} steps of {args.interval:g} s)")
    print(f"predictor cost: {timed / samples * 1e6:.1f} µs per raw sample (amortised, {predictor.version})")
    print(
        f"state: {len(state) / args.assets / 1024:.1f} KB per asset in the checkpoint (one asset alone, "
        f"with its share of the fleet models: {max(per_asset) / 1024:.1f} KB at most)"
    )


if __name__ == "__main__":
    main()
