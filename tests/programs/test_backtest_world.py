"""The simulated world's flags (``backtest sim``, ``simulate fleet``, ``demo``) and what the static
baseline makes of a world whose machines stand idle for hours."""

from __future__ import annotations

import dataclasses
import json

import pytest

from programs.backtest.sim import run_thresholds
from programs.cli import build_parser, main
from programs.commands.common import world_from
from simulators.operating import HARDER, Conditions
from simulators.world import FleetSpec, with_conditions


def world(*flags: str, command: tuple[str, ...] = ("backtest", "sim")) -> tuple[float, Conditions]:
    return world_from(build_parser().parse_args([*command, *flags]))


def test_the_harder_world_is_the_default_and_easy_is_todays() -> None:
    assert world() == (0.1, HARDER)
    assert world("--easy") == (0.0, Conditions())
    share, conditions = world("--easy", "--idle", "0.3", "--sensor-faults", "0.2", "--load-channel")
    assert share == 0.2 and conditions == Conditions(idle_share=0.3, load_channel=True)
    assert world("--no-load-channel", "--ambient", "5")[1] == dataclasses.replace(
        HARDER, load_channel=False, ambient_c=5.0
    )
    for command in (("simulate", "fleet", "--api-url", "u", "--api-key", "k"), ("demo",)):
        assert world("--load-cycles", "0", command=command)[1] == dataclasses.replace(HARDER, load_cycles=0.0)


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--idle", "0.95"], "--idle: idle_share"),
        (["--load-cycles", "2"], "--load-cycles: load_cycles"),
        (["--fault-load-exponent", "-1"], "--fault-load-exponent"),
        (["--sensor-faults", "1.5"], "--sensor-faults"),
    ],
)
def test_a_knob_out_of_range_is_a_one_line_error_naming_the_flag(
    flags: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", "sim", "--assets", "2", "--days", "1", *flags]) == 2
    assert named in capsys.readouterr().err


def test_the_backtest_reports_the_world_it_ran(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["backtest", "sim", "--assets", "2", "--days", "1", "--seed", "3", "--easy", "--idle", "0.2"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["conditions"] == dataclasses.asdict(Conditions(idle_share=0.2))
    assert result["sensor_fault_share"] == 0.0


def caught_and_false(seed: int, load_channel: bool) -> tuple[float, int]:
    """Static thresholds on a small fleet whose machines idle a fifth of the time."""
    spec = FleetSpec(
        tenant="t", assets=6, customers=2, seed=seed, onset_rate_per_h=1 / 40,
        degradation_hours=(24.0, 72.0), sensor_fault_share=0.0,
    )  # fmt: skip
    spec = with_conditions(spec, Conditions(idle_share=0.2, load_channel=load_channel))
    result = run_thresholds(spec, hours=120.0, sigmas=4.0).summary()
    return result["useful_recommendation_share"] or 0.0, result["false_visits"]


@pytest.mark.parametrize("seed", [3, 4])
def test_static_limits_hold_while_a_machine_runs_when_it_reports_its_load(seed: int) -> None:
    """With ``load_pct`` the limits are learnt and applied on running machines past their start-up,
    so idle spells and cold starts raise no alarm and the limits stay tight enough to catch faults;
    without it, the idle readings widen the limits until most faults pass."""
    caught, false = caught_and_false(seed, load_channel=True)
    blind_caught, _ = caught_and_false(seed, load_channel=False)
    assert false == 0 and caught > blind_caught + 0.4
