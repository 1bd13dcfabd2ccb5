"""Predictor cost per raw sample and model state per asset (issue targets: ≤ 50 µs, ≤ 64 KB).

Streams simulated fleet readings (pumps, chillers, compressors from ``simulators.physics``)
through ``predictor.engine.Predictor`` exactly as the worker does, reading by reading. The
models step on 10-minute event-time means and the learned RUL model predicts once an hour,
so the cost per raw reading depends on how often a device reports: ``--interval``.

1. Untimed: the fleet learns. A few assets of each type run to failure and are labelled, so
   every type's RUL model is trained and its predictions are part of the timed cost.
2. Timed: ``--assets`` assets for ``--hours`` at one reading every ``--interval`` seconds.
   Readings are generated beforehand and not timed; to keep the run short the simulator is
   read once a simulated minute per asset and that reading is fed at every tick of the minute.
3. State: one more asset runs for 9 days (every buffer full: the 24 h trend, the labelling
   rows of the horizon and its grace, 200 h of RUL history) and is pickled alone, without the
   fleet models it shares with its type; and the whole checkpoint is divided by the number of
   assets.

    python bench/bench_predictor.py --assets 10000 --hours 3 --interval 10
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import sys
import time
from typing import Any

for _threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")  # as the forestall command does: one process per core

from predictor.engine import Predictor  # noqa: E402  (after the thread limits, as in forestall)
from predictor.models import AssetModel, TypeModels  # noqa: E402
from simulators.physics import make_equipment  # noqa: E402

TYPES = ("pump", "chiller", "compressor")
HOUR = 3600.0
TENANT = "bench"


def teach(predictor: Predictor, per_type: int) -> float:
    """Run ``per_type`` assets of each type to failure and label it; returns the event time reached."""
    end = 0.0
    for kind in TYPES:
        for i in range(per_type):
            asset = f"teach-{kind}-{i}"
            machine = make_equipment(
                kind, asset, 7, 0.0, force_onset_at=6 * HOUR, degradation_hours=(36.0, 72.0)
            )
            failure_at = machine.next_failure_at or 0.0
            t = 0.0
            while t < failure_at:
                predictor.observe(TENANT, asset, kind, t, machine.read(t))
                t += 600.0
            predictor.label(TENANT, asset, kind, "failure", failure_at)
            predictor.advance(TENANT, failure_at + 2 * HOUR)  # no more data will come: apply it
            end = max(end, t)
    return end


class _AloneWithoutFleet(pickle.Pickler):
    """Pickles an asset's own state; the fleet models it shares with its type are left out."""

    def persistent_id(self, obj: Any) -> str | None:
        return "fleet" if isinstance(obj, TypeModels) else None


def state_of_one_full_asset(predictor: Predictor, start: float) -> int:
    machine = make_equipment("pump", "full-history", 11, start, onset_rate_per_h=0.0)
    t = start
    while t < start + 9 * 24 * HOUR:
        predictor.observe(TENANT, "full-history", "pump", t, machine.read(t))
        t += 600.0
    model = predictor.assets[(TENANT, "full-history")]
    assert isinstance(model, AssetModel)
    buffer = io.BytesIO()
    _AloneWithoutFleet(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(model)
    return len(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--hours", type=float, default=3.0, help="simulated hours per asset")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between raw readings")
    parser.add_argument("--teach", type=int, default=8, help="assets per type run to failure first")
    args = parser.parse_args()

    predictor = Predictor()
    t0 = teach(predictor, args.teach) + HOUR
    trained = {kind: predictor.types[(TENANT, kind)].rul.failures for kind in TYPES}
    machines = [make_equipment(TYPES[i % 3], f"a{i:05d}", 7, t0) for i in range(args.assets)]
    steps = int(args.hours * HOUR / args.interval)
    timed = 0.0
    samples = 0
    readings: list[tuple[str, str, dict[str, float]]] = []
    for step in range(steps):
        ts = t0 + step * args.interval
        if not readings or ts // 60.0 != (ts - args.interval) // 60.0:
            readings = [(f"a{i:05d}", TYPES[i % 3], m.read(ts)) for i, m in enumerate(machines)]
        start = time.perf_counter()
        for asset, kind, values in readings:
            predictor.observe(TENANT, asset, kind, ts, values)
        timed += time.perf_counter() - start
        samples += len(readings)
        if step % max(steps // 10, 1) == 0:
            rate = timed / samples * 1e6
            print(f"  {step}/{steps} readings per asset, {rate:.1f} µs/reading", file=sys.stderr)
    model_steps = sum(predictor.assets[(TENANT, f"a{i:05d}")].steps for i in range(args.assets))
    estimates = sum(1 for i in range(args.assets) if "rul" in predictor.assets[(TENANT, f"a{i:05d}")].hourly)
    checkpoint = len(pickle.dumps(predictor, protocol=pickle.HIGHEST_PROTOCOL))
    alone = state_of_one_full_asset(predictor, t0)
    print(
        f"command: python bench/bench_predictor.py --assets {args.assets} --hours {args.hours:g} "
        f"--interval {args.interval:g} --teach {args.teach}"
    )
    print(f"fleet taught first: RUL models trained on {trained} failures ({predictor.version})")
    print(f"raw readings: {samples:,} ({args.assets:,} assets × {steps} readings every {args.interval:g} s)")
    print(f"model steps: {model_steps:,}; assets with a learned RUL estimate at the end: {estimates:,}")
    print(f"predictor cost: {timed / samples * 1e6:.1f} µs per raw reading (amortised)")
    per_step = timed / max(model_steps, 1) * 1e6
    print(f"               {per_step:.0f} µs per model step (10-minute step, RUL hourly)")
    per_asset = checkpoint / (args.assets + 3 * args.teach + 1) / 1024
    print(f"state: {alone / 1024:.1f} KB for one asset with every buffer full (fleet models excluded)")
    print(f"       {per_asset:.1f} KB per asset in the checkpoint")


if __name__ == "__main__":
    main()
