"""``forestall backtest {cmapss,sim,fleet}``: data sets through the live predictor and planner code."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from programs.commands.common import add_config_argument, add_world_arguments, world_from


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
    add_world_arguments(sim)
    add_config_argument(sim)
    sim.set_defaults(handler=_sim)
    _register_fleet(sub)


def _register_fleet(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fleet = sub.add_parser(
        "fleet",
        help="replay a run-to-failure history as a live fleet (MQTT, worker, API) and score the visits",
        description=(
            "DIR holds manifest.json = [{asset, asset_type, failures: [RFC 3339|epoch, ...], customer?, "
            "site?}] (failures: [] = censored; a single failure_at is accepted) and <asset>.csv with "
            "header ts,<sensor>,... (ts RFC 3339 or epoch seconds; an empty cell = no reading). "
            "After each failure the asset is repaired before its next reading. Progress goes to "
            "stderr; one JSON line of metrics is printed last."
        ),
    )
    fleet.add_argument("folder", type=Path, nargs="?", metavar="DIR", help="a history in the layout above")
    fleet.add_argument("--cmapss", type=Path, metavar="FILE", help="a C-MAPSS training file instead of DIR")
    fleet.add_argument("--hours-per-cycle", type=float, default=1.0, help="C-MAPSS: event hours per cycle")
    fleet.add_argument("--stagger-hours", type=float, default=240.0, help="C-MAPSS: engine starts spread")
    fleet.add_argument("--seed", type=int, default=1, help="C-MAPSS: seed of the engines' starts")
    fleet.add_argument("--lead-min-hours", type=float, default=2.0)
    fleet.add_argument("--lead-max-hours", type=float, default=96.0)
    fleet.add_argument(
        "--labels-early",
        action="store_true",
        help="post each failure as soon as the replay reaches it, without waiting for the worker",
    )
    fleet.add_argument("--batch", type=int, default=12, help="readings per telemetry message (default 12)")
    fleet.add_argument("--timeline", type=Path, metavar="FILE.csv", help="write health and visits over time")
    fleet.add_argument("--data-dir", type=Path, help="keep the replay's state DB and store here")
    fleet.add_argument("--mqtt-url", help="use this broker instead of the embedded one")
    add_config_argument(fleet)
    fleet.set_defaults(handler=_fleet)


def _cmapss(args: argparse.Namespace) -> int:
    from programs.backtest.cmapss import backtest_cmapss

    print(f"streaming {args.train} then {args.test} through the predictor …", file=sys.stderr, flush=True)
    print(json.dumps(backtest_cmapss(args.train, args.test, args.rul, args.predictions)), flush=True)
    return 0


def _sim(args: argparse.Namespace) -> int:
    from programs.backtest.sim import backtest_sim

    if args.assets < 1 or args.days <= 0:
        raise ValueError("--assets must be at least 1 and --days positive")
    sensor_faults, conditions = world_from(args)
    print(
        f"simulating {args.assets} assets for {args.days:g} days under three policies …",
        file=sys.stderr,
        flush=True,
    )
    result = backtest_sim(args.assets, args.days, args.seed, sensor_faults, conditions)
    print(json.dumps(result), flush=True)
    return 0


def _fleet(args: argparse.Namespace) -> int:
    from programs.backtest.history import from_cmapss, read_folder
    from programs.backtest.replay import FleetReplay, ReplayOptions, to_json

    if (args.folder is None) == (args.cmapss is None):
        raise ValueError("give either DIR or --cmapss FILE")
    if args.cmapss is not None:
        history = from_cmapss(args.cmapss, args.hours_per_cycle, args.stagger_hours, args.seed)
    else:
        history = read_folder(args.folder)
    print(
        f"replaying {len(history.assets)} assets, {history.readings:,} readings and "
        f"{history.failures} failures as a live fleet …",
        file=sys.stderr,
        flush=True,
    )
    options = ReplayOptions(
        lead_min_hours=args.lead_min_hours,
        lead_max_hours=args.lead_max_hours,
        labels_early=args.labels_early,
        batch=args.batch,
        timeline=args.timeline,
        data_dir=args.data_dir,
        mqtt_url=args.mqtt_url,
        config=args.config,
    )
    print(to_json(FleetReplay(history, options).run()), flush=True)
    return 0
