"""``forestall backtest {cmapss,sim}``: stream a data set through the live predictor code."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from forestall.commands.common import add_config_argument


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("backtest", help="evaluate the predictor on run-to-failure data")
    sub = parser.add_subparsers(dest="backtest_command", metavar="DATASET", required=True)
    cmapss = sub.add_parser("cmapss", help="NASA C-MAPSS turbofan engines (gzip or plain text files)")
    cmapss.add_argument("--train", type=Path, required=True, metavar="FILE", help="train_FD00x.txt[.gz]")
    cmapss.add_argument("--test", type=Path, required=True, metavar="FILE", help="test_FD00x.txt[.gz]")
    cmapss.add_argument("--rul", type=Path, required=True, metavar="FILE", help="RUL_FD00x.txt[.gz]")
    cmapss.add_argument(
        "--predictions",
        type=Path,
        default=None,
        metavar="FILE",
        help="write unit,predicted_rul (uncapped) to this CSV",
    )
    add_config_argument(cmapss)
    cmapss.set_defaults(handler=_cmapss)
    sim = sub.add_parser("sim", help="the simulated fleet with ground truth, against two baselines")
    sim.add_argument("--assets", type=int, default=50)
    sim.add_argument("--days", type=float, default=30.0)
    sim.add_argument("--seed", type=int, default=7)
    add_config_argument(sim)
    sim.set_defaults(handler=_sim)


def _cmapss(args: argparse.Namespace) -> int:
    from predictor.backtest.cmapss import backtest_cmapss

    print(f"streaming {args.train} then {args.test} through the predictor …", flush=True)
    print(json.dumps(backtest_cmapss(args.train, args.test, args.rul, args.predictions)), flush=True)
    return 0


def _sim(args: argparse.Namespace) -> int:
    from predictor.backtest.sim import backtest_sim

    if args.assets < 1 or args.days <= 0:
        raise ValueError("--assets must be at least 1 and --days positive")
    print(f"simulating {args.assets} assets for {args.days:g} days under three policies …", flush=True)
    print(json.dumps(backtest_sim(args.assets, args.days, args.seed)), flush=True)
    return 0
