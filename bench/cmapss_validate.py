"""Train-only validation of ``predictor.rul`` on NASA C-MAPSS (never reads the test files).

The training engines are split by unit (``--folds`` folds, for each ``--seeds`` seed). The
other folds stream in as a fleet, one cycle (= one hour of event time) at a time, interleaved,
through ``RulFeatures``; each engine's failure is learned when it happens (its last cycle).
Each held-out engine is then cut ``--cuts`` times at a uniformly random cycle leaving at least
31 cycles of history (like the test set), streamed the same way, and the estimate at its last
cycle is scored: RMSE of min(pred, 125) against min(true RUL, 125), in cycles.

    .venv/bin/python bench/cmapss_validate.py --subset FD001
"""

from __future__ import annotations

import argparse
import gzip
import math
import pickle
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from predictor.rul import HOUR, RulFeatures, RulModel

CAP = 125.0
MIN_HISTORY = 31
COLUMNS = ["op_setting_1", "op_setting_2", "op_setting_3"] + [f"sensor_{i}" for i in range(1, 22)]
Engine = list[dict[str, float]]


def read_engines(path: Path) -> list[Engine]:
    rows: dict[int, Engine] = {}
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as fh:
        for line in fh:
            parts = line.split()
            if parts:
                rows.setdefault(int(parts[0]), []).append(
                    dict(zip(COLUMNS, map(float, parts[2:]), strict=True))
                )
    return [rows[unit] for unit in sorted(rows)]


def interleave(engines: list[Engine], start: float) -> Iterator[tuple[float, int, int]]:
    """Cycle c of every engine that has one, then c + 1: (ts, engine index, cycle)."""
    for c in range(max(len(e) for e in engines)):
        for i, engine in enumerate(engines):
            if c < len(engine):
                yield start + c * HOUR, i, c


def make_model(args: argparse.Namespace) -> RulModel:
    return RulModel(
        cap_hours=CAP,
        min_failures=args.min_failures,
        components=args.components,
        gamma=args.gamma,
        ridge=args.ridge,
        match_steps=args.match_steps,
        neighbours=args.neighbours,
        clip_z=args.clip_z,
        band=(args.band[0], args.band[1]),
    )


def make_features(args: argparse.Namespace) -> RulFeatures:
    return RulFeatures(windows_s=[w * HOUR for w in args.windows], keep=args.keep)


def run_fold(
    train: list[Engine], held_out: list[Engine], args: argparse.Namespace, rng: np.random.Generator
) -> dict[str, list[float]]:
    model = make_model(args)
    feats = [make_features(args) for _ in train]
    end, learn_s = 0.0, []
    for ts, i, c in interleave(train, 0.0):
        feats[i].add(ts, train[i][c])
        if c == len(train[i]) - 1:
            began = time.perf_counter()
            model.learn_failure(feats[i].history(), failed_at=ts)
            learn_s.append(time.perf_counter() - began)
            feats[i].reset()
        end = max(end, ts)
    cut = [(e, int(rng.integers(MIN_HISTORY, len(e) + 1))) for e in held_out for _ in range(args.cuts)]
    truncated = [e[:n] for e, n in cut]
    truth = [min(len(e) - n, CAP) for e, n in cut]
    feats = [make_features(args) for _ in truncated]
    out: dict[str, list[float]] = {"err_x": [], "err_full": [], "inside": [], "width": [], "learn_s": learn_s}
    out["predict_s"] = []
    for ts, i, c in interleave(truncated, end + 1000 * HOUR):
        x = feats[i].add(ts, truncated[i][c])
        if c < len(truncated[i]) - 1 or x is None:
            continue
        alone = model.predict(x)
        began = time.perf_counter()
        full = model.predict(x, feats[i].history(last=args.match_steps))
        out["predict_s"].append(time.perf_counter() - began)
        assert alone is not None and full is not None, "the model has learned from the training fold"
        out["err_x"].append(min(alone[0], CAP) - truth[i])
        out["err_full"].append(min(full[0], CAP) - truth[i])
        out["inside"].append(float(full[1] <= truth[i] <= full[2]))
        out["width"].append(full[2] - full[1])
    return out


def rmse(errors: list[float]) -> float:
    return math.sqrt(sum(e * e for e in errors) / len(errors))


def state_size(args: argparse.Namespace, engine: Engine) -> int:
    feats = make_features(args)
    for c, row in enumerate(engine):
        feats.add(c * HOUR, row)
    return len(pickle.dumps(feats))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--subset", default="FD001")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path("cmapss"),
        help="the unpacked NASA files (README: Get the C-MAPSS data)",
    )
    p.add_argument("--train", type=Path, help="train file (default: <data-dir>/train_<subset>.txt.gz)")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--cuts", type=int, default=3, help="random cuts per held-out engine")
    p.add_argument("--windows", type=float, nargs="+", default=[5.0, 15.0, 30.0], help="hours")
    p.add_argument("--keep", type=int, default=RulFeatures().keep)
    p.add_argument("--min-failures", type=int, default=5)
    p.add_argument("--components", type=int, default=400)
    p.add_argument("--gamma", type=float, default=0.01)
    p.add_argument("--ridge", type=float, default=10.0)
    p.add_argument("--match-steps", type=int, default=60)
    p.add_argument("--neighbours", type=int, default=10)
    p.add_argument("--clip-z", type=float, default=4.0, help="clip standardised features to ±this")
    p.add_argument("--band", type=float, nargs=2, default=[0.05, 0.95], help="error quantiles of the band")
    args = p.parse_args(argv)
    engines = read_engines(args.train or args.data_dir / f"train_{args.subset}.txt.gz")
    totals: dict[str, list[float]] = {}
    per_run: list[tuple[float, float]] = []
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(engines))
        for fold in range(args.folds):
            held = set(order[fold :: args.folds].tolist())
            train = [e for i, e in enumerate(engines) if i not in held]
            out = run_fold(train, [engines[i] for i in sorted(held)], args, rng)
            for key, values in out.items():
                totals.setdefault(key, []).extend(values)
            x_only, full = rmse(out["err_x"]), rmse(out["err_full"])
            per_run.append((x_only, full))
            print(f"seed {seed} fold {fold}: rmse x-only {x_only:.2f}  with history {full:.2f}", flush=True)
    report(args, totals, per_run, max(engines, key=len))


def report(
    args: argparse.Namespace,
    totals: dict[str, list[float]],
    per_run: list[tuple[float, float]],
    longest: Engine,
) -> None:
    sd_x, sd_full = (statistics.pstdev(r[k] for r in per_run) for k in (0, 1))
    learn_ms = [1e3 * s for s in totals["learn_s"]]
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    print(f"{args.subset} train-only validation, truth and prediction capped at {CAP:g} cycles")
    print(f"  held-out cuts      {len(totals['err_full'])}")
    print(f"  rmse x only        {rmse(totals['err_x']):.2f}  (sd over folds {sd_x:.2f})")
    print(f"  rmse with history  {rmse(totals['err_full']):.2f}  (sd over folds {sd_full:.2f})")
    print(f"  band coverage      {statistics.mean(totals['inside']):.2f}")
    print(f"  band mean width    {statistics.mean(totals['width']):.1f} h")
    print(f"  learn_failure      mean {statistics.mean(learn_ms):.1f} ms, max {max(learn_ms):.1f} ms")
    print(f"  predict w/ history mean {1e3 * statistics.mean(totals['predict_s']):.2f} ms")
    print(f"  RulFeatures state  {state_size(args, longest)} bytes pickled (full history)")


if __name__ == "__main__":
    main()
