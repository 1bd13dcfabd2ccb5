"""The one visit policy: properties of ``planner.decide`` and of the evidence it rests on, and proof
that the worker and the sim backtest both apply it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from predictor import planner
from predictor.calibration import Calibrator, evidence
from predictor.planner import AssetCondition, ClosedVisit, Customer, OpenVisit, PlannerPolicy, decide

HOUR = 3600.0
CUSTOMER = Customer("c1", "standard", "gold", 0.3)
probability = st.floats(0.0, 1.0)


def cond(asset: str = "a", p: float = 0.8, **kw: Any) -> AssetCondition:
    fields: dict[str, Any] = {
        "asset_id": asset,
        "site": kw.pop("site", f"site-{asset}"),
        "failure_probability": p,
        "anomaly_score": 0.5,
        "ttf_hours": kw.pop("ttf_hours", 30.0),
        "ttf_low_hours": kw.pop("ttf_low_hours", 20.0),
        "criticality": 3,
        "safety_critical": False,
        "repeat_faults": 0,
    }
    fields.update(kw)
    return AssetCondition(**fields)


def opened(actions: list[planner.Action]) -> set[str]:
    return {a for action in actions if isinstance(action, planner.Open) for a in action.plan.asset_ids}


@given(p=probability, q=probability)
def test_decide_is_monotone_in_the_probability(p: float, q: float) -> None:
    """If an asset gets a visit at one probability, it gets one at any higher probability."""
    low, high = sorted((p, q))
    if opened(decide({"a": cond(p=low)}, [], [], CUSTOMER, 0.0, 0.0)):
        assert opened(decide({"a": cond(p=high)}, [], [], CUSTOMER, 0.0, 0.0))


@given(p=probability, ttf=st.one_of(st.none(), st.floats(0.0, 2000.0)), low=st.floats(0.0, 2000.0))
def test_a_visit_window_lies_between_now_and_the_predicted_failure(
    p: float, ttf: float | None, low: float
) -> None:
    actions = decide({"a": cond(p=p, ttf_hours=ttf, ttf_low_hours=low)}, [], [], CUSTOMER, 0.0, 1000.0)
    for action in actions:
        assert isinstance(action, planner.Open)
        plan = action.plan
        assert plan.window_start == 1000.0 <= plan.window_end < plan.predicted_failure_at
        assert 0.0 <= plan.confidence <= 1.0 and plan.priority in ("P1", "P2", "P3", "P4")


def test_one_open_recommendation_per_asset_and_a_site_is_bundled() -> None:
    conds = {"a": cond("a", site="s"), "b": cond("b", site="s"), "c": cond("c", site="t")}
    actions = decide(conds, [], [], CUSTOMER, 0.0, 0.0)
    plans = sorted(action.plan.asset_ids for action in actions if isinstance(action, planner.Open))
    assert plans == [("a", "b"), ("c",)]
    covered = [OpenVisit("r1", ("a", "b"), "open", "P2", 0.0, 40 * HOUR)]
    assert opened(decide(conds, covered, [], CUSTOMER, 0.0, 0.0)) == {"c"}


def test_cooling_down_and_succession_need_new_evidence() -> None:
    now = 100 * HOUR
    dismissed = [ClosedVisit(("a",), "dismissed", now - 10 * HOUR)]
    assert not opened(decide({"a": cond(at=now)}, [], dismissed, CUSTOMER, 0.0, now))
    expired = [ClosedVisit(("a",), "expired", now - 0.2 * HOUR)]
    stale = cond(at=now - 0.5 * HOUR)  # the health the expired one rested on
    assert not opened(decide({"a": stale}, [], expired, CUSTOMER, 0.0, now))
    assert opened(decide({"a": cond(at=now)}, [], expired, CUSTOMER, 0.0, now))
    silent = cond(at=now - 3 * HOUR)  # stopped reporting (it may have failed): nothing new to act on
    assert not opened(decide({"a": silent}, [], [], CUSTOMER, 0.0, now))


def test_an_untouched_recommendation_is_cancelled_when_the_risk_is_gone_or_the_asset_failed() -> None:
    visit = OpenVisit("r1", ("a",), "open", "P2", 10 * HOUR, 40 * HOUR)
    (gone,) = decide({"a": cond(p=0.01)}, [visit], [], CUSTOMER, 0.0, 20 * HOUR)
    assert gone == planner.Close("r1", "risk_gone")
    failed = cond(p=0.99, failed_at=15 * HOUR)  # failed (and already repaired) after it opened
    assert decide({"a": failed}, [visit], [], CUSTOMER, 0.0, 20 * HOUR) == [
        planner.Close("r1", "asset_failed")
    ]
    scheduled = OpenVisit("r1", ("a",), "scheduled", "P2", 10 * HOUR, 40 * HOUR)
    actions = decide({"a": cond(p=0.01)}, [scheduled], [], CUSTOMER, 0.0, 20 * HOUR)
    assert not any(isinstance(a, planner.Close) for a in actions)  # someone is on it


@pytest.mark.parametrize("status", ["accepted", "scheduled"])
def test_a_visit_under_way_whose_assets_are_all_down_is_left_to_the_technician(status: str) -> None:
    # Seen in the sim (seed 3): planning such a visit anew raised "a visit needs at least one asset".
    visit = OpenVisit("r1", ("a", "b"), status, "P2", 10 * HOUR, 40 * HOUR)
    down = {asset: cond(asset, p=0.99, failed=True, failed_at=5 * HOUR, site="s") for asset in ("a", "b")}
    assert decide(down, [visit], [], CUSTOMER, 0.0, 20 * HOUR) == []


@given(
    anomaly=probability,
    crossing=st.one_of(st.none(), probability),
    rul=st.one_of(st.none(), probability),
    bump=st.floats(0.0, 1.0),
    failures=st.integers(0, 200),
)
@settings(max_examples=200)
def test_the_calibrated_probability_is_bounded_and_monotone_in_every_evidence(
    anomaly: float, crossing: float | None, rul: float | None, bump: float, failures: int
) -> None:
    calibrator = Calibrator()
    p = calibrator.predict_proba_one(evidence(anomaly, crossing, rul, failures))[True]
    assert 0.0 <= p <= 1.0
    raise_ = lambda v: min(v + bump * (1.0 - v), 1.0)  # noqa: E731  (a tiny local helper)
    for more in (
        evidence(raise_(anomaly), crossing, rul, failures),
        evidence(anomaly, None if crossing is None else raise_(crossing), rul, failures),
        evidence(anomaly, crossing, None if rul is None else raise_(rul), failures),
    ):
        assert calibrator.predict_proba_one(more)[True] >= p - 1e-12


def test_learning_keeps_the_probability_monotone() -> None:
    """Labels that contradict the evidence cannot turn it upside down: weights stay non-negative."""
    calibrator = Calibrator()
    strong, weak = evidence(0.99, 0.99, None, 20), evidence(0.01, 0.01, None, 20)
    for _ in range(30):  # perverse labels: the strong evidence never failed, the weak always did
        calibrator.learn_life([strong] * 10 + [weak] * 10, [False] * 10 + [True] * 10)
    assert calibrator.predict_proba_one(strong)[True] >= calibrator.predict_proba_one(weak)[True]


def test_the_worker_and_the_sim_backtest_apply_the_same_decide(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """Both call ``planner.decide`` itself: no copy of the policy anywhere."""
    from forestall.state.db import make_engine, make_sessionmaker, upgrade
    from predictor.engine import Predictor
    from predictor.visits import Visits
    from programs.backtest.sim import run_forestall
    from simulators.world import FleetSpec
    from tests.support import add_customer_with_asset

    calls: list[str] = []
    real: Callable[..., list[planner.Action]] = planner.decide

    def spy(*args: Any, **kwargs: Any) -> list[planner.Action]:
        calls.append("decide")
        return real(*args, **kwargs)

    monkeypatch.setattr(planner, "decide", spy)
    run_forestall(FleetSpec(tenant="t", assets=3, customers=1, seed=2), hours=2.0)
    sim_calls = len(calls)
    assert sim_calls > 0
    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url)
    with make_sessionmaker(make_engine(url)).begin() as session:
        add_customer_with_asset(session, "pump-1", criticality=3, visit_sensitivity=0.3)
        predictor = Predictor()
        predictor.observe("acme", "pump-1", "pump", 0.0, {"temp_c": 50.0})
        Visits(predictor, PlannerPolicy()).plan_customer(session, "acme", "c1", 0.0, 10.0)
    assert len(calls) == sim_calls + 1
