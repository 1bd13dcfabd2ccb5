"""Visit planning properties: windows end before the failure, SLA fit, priorities, triggers."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from predictor import planner
from predictor.planner import AssetCondition, Customer, PlannerPolicy, plan_visit

conditions = st.builds(
    AssetCondition,
    asset_id=st.text(alphabet="abcdef", min_size=1, max_size=4),
    site=st.none() | st.just("s1"),
    failure_probability=st.floats(0, 1),
    anomaly_score=st.floats(0, 1),
    ttf_hours=st.none() | st.floats(0, 1000),
    ttf_low_hours=st.none() | st.floats(0, 1000),
    criticality=st.integers(1, 5),
    safety_critical=st.booleans(),
    repeat_faults=st.integers(0, 5),
)
customers = st.builds(
    Customer,
    st.just("c1"),
    st.sampled_from(["key", "standard", "smb"]),
    st.sampled_from(["platinum", "gold", "silver", "bronze", "unknown"]),
    st.floats(0, 1),
)


@given(st.lists(conditions, min_size=1, max_size=5), customers, st.floats(0, 1e9))
def test_a_window_always_ends_before_the_predicted_failure(
    conds: list[AssetCondition], c: Customer, now: float
) -> None:
    plan = plan_visit(conds, c, 50.0, now)
    assert plan.window_start == now
    assert now <= plan.window_end < plan.predicted_failure_at
    assert plan.fits_sla == (plan.sla_due_at <= plan.window_end)
    assert plan.priority in ("P1", "P2", "P3", "P4")
    assert 0 <= plan.confidence <= 1


def cond(**kw: object) -> AssetCondition:
    base = dict(
        asset_id="p1",
        site="s1",
        failure_probability=0.8,
        anomaly_score=0.7,
        ttf_hours=48.0,
        ttf_low_hours=30.0,
        criticality=3,
        safety_critical=False,
        repeat_faults=0,
    )
    base.update(kw)
    return AssetCondition(**base)  # type: ignore[arg-type]


def test_a_failure_sooner_than_the_sla_response_is_flagged_and_expedited() -> None:
    plan = plan_visit(
        [cond(ttf_hours=10.0, ttf_low_hours=6.0, criticality=1)],
        Customer("c", "smb", "bronze", 0.5),
        10.0,
        now=0.0,
    )
    assert not plan.fits_sla
    assert plan.priority in ("P1", "P2")


def test_safety_urgency_and_segment_raise_priority() -> None:
    calm = plan_visit(
        [cond(ttf_hours=300.0, ttf_low_hours=200.0)], Customer("c", "smb", "silver", 0.5), 10.0, 0.0
    )
    hot = plan_visit(
        [cond(ttf_hours=12.0, ttf_low_hours=8.0, safety_critical=True, criticality=5)],
        Customer("c", "key", "silver", 0.5),
        10.0,
        0.0,
    )
    assert hot.priority_score > calm.priority_score
    assert hot.priority < calm.priority  # "P1" sorts before "P4"


def test_triggers_cancellation_and_expiry() -> None:
    policy = PlannerPolicy()
    assert planner.needs_visit(cond(failure_probability=0.9, ttf_hours=100.0), policy)
    assert not planner.needs_visit(cond(failure_probability=0.3), policy)
    assert planner.should_cancel([cond(failure_probability=0.05)], policy)
    assert not planner.should_cancel([cond(failure_probability=0.05), cond(failure_probability=0.7)], policy)
    window_end = 0.0  # lapsed once the sweep's cutoff has passed it
    assert window_end < planner.lapse_cutoff(now=7 * 3600.0, policy=policy)
    assert not window_end < planner.lapse_cutoff(now=3600.0, policy=policy)


def test_bundles_keep_every_asset_and_take_the_earliest_failure() -> None:
    plan = plan_visit(
        [cond(asset_id="b", ttf_hours=80.0), cond(asset_id="a", ttf_hours=20.0, ttf_low_hours=15.0)],
        Customer("c", "standard", "gold", 0.5),
        10.0,
        0.0,
    )
    assert plan.asset_ids == ("a", "b")
    assert plan.predicted_failure_at == 20.0 * 3600
    assert plan.reason["priority_factors"]["scale"] > 0


@given(conditions, customers, st.text(alphabet="ABC", min_size=1, max_size=3))
def test_an_alert_opens_a_visit_of_at_least_p2_whatever_the_models_say(
    cond: AssetCondition, customer: Customer, alert: str
) -> None:
    alerted = _alerted(cond, alert)
    [action] = planner.decide({cond.asset_id: alerted}, [], [], customer, 50.0, 0.0)
    assert isinstance(action, planner.Open)
    assert action.plan.priority <= planner.ALERT_PRIORITY and action.plan.reason["alerts"] == [alert]
    failed = _alerted(cond, alert, failed=True)
    assert planner.decide({cond.asset_id: failed}, [], [], customer, 50.0, 0.0) == []


def test_an_alert_escalates_the_models_visit_once_and_keeps_it_from_being_cancelled() -> None:
    calm = AssetCondition("p1", "s1", 0.05, 0.1, 400.0, 300.0, 1, False, 0)  # risk gone
    visit = planner.OpenVisit("v1", ("p1",), "open", "P4", 0.0, 300 * 3600.0)
    customer = Customer("c1", "smb", "bronze", 0.5)
    [cancel] = planner.decide({"p1": calm}, [visit], [], customer, 10.0, 0.0)
    assert cancel == planner.Close("v1", "risk_gone")
    [revise] = planner.decide({"p1": _alerted(calm, "HighRisk")}, [visit], [], customer, 10.0, 0.0)
    assert isinstance(revise, planner.Revise) and revise.priority == planner.ALERT_PRIORITY
    escalated = planner.OpenVisit("v1", ("p1",), "open", revise.priority, 0.0, revise.window_end)
    assert planner.decide({"p1": _alerted(calm, "HighRisk")}, [escalated], [], customer, 10.0, 0.0) == []


def _alerted(cond: AssetCondition, alert: str, failed: bool = False) -> AssetCondition:
    return replace(cond, alerts=(alert,), failed=failed)


def test_a_prediction_the_asset_outlived_needs_more_evidence_before_a_successor() -> None:
    """A recommendation lapsed after the failure it foresaw was due: the same evidence does not
    open it again every few hours; more evidence, or an alert, does; a lapse whose foreseen
    failure is still ahead does not hold a successor back."""
    customer = Customer("c1", "key", "gold", 0.3)
    lapsed = planner.ClosedVisit(("p1",), "expired", 100 * 3600.0, None, 0.85, 90 * 3600.0)
    now = 101 * 3600.0

    def decide_at(
        p: float, closed: planner.ClosedVisit = lapsed, alerts: tuple[str, ...] = ()
    ) -> list[object]:
        cond = AssetCondition("p1", "s1", p, 0.5, 10.0, 5.0, 3, False, 0, at=now, alerts=alerts)
        return list(planner.decide({"p1": cond}, [], [closed], customer, 50.0, now))

    assert decide_at(0.85) == [] and decide_at(0.8) == []
    assert [type(a).__name__ for a in decide_at(0.9)] == ["Open"]
    assert [type(a).__name__ for a in decide_at(0.8, alerts=("HighRisk",))] == ["Open"]
    ahead = replace(lapsed, predicted_failure_at=now + 3600.0)
    assert [type(a).__name__ for a in decide_at(0.8, ahead)] == ["Open"]
    dismissed_long_ago = replace(lapsed, status="cancelled")
    assert [type(a).__name__ for a in decide_at(0.8, dismissed_long_ago)] == ["Open"]


def test_a_failure_after_a_lapsed_prediction_clears_the_raised_bar() -> None:
    """The asset did not outlive the prediction: it failed (later than foreseen) and was repaired.
    Its next life's first warning opens a visit with the usual evidence; before, a short-lived
    machine's next failure went unannounced for the 72 h the lapse was remembered."""
    customer = Customer("c1", "key", "gold", 0.3)
    lapsed = planner.ClosedVisit(("p1",), "expired", 100 * 3600.0, None, 0.95, 90 * 3600.0, 80 * 3600.0)
    now = 130 * 3600.0

    def opens(failed_at: float | None) -> bool:
        cond = AssetCondition("p1", "s1", 0.8, 0.5, 10.0, 5.0, 3, False, 0, at=now, failed_at=failed_at)
        actions = planner.decide({"p1": cond}, [], [lapsed], customer, 50.0, now)
        return [type(a).__name__ for a in actions] == ["Open"]

    assert not opens(None)  # it outlived the prediction: the bar stays raised
    assert not opens(70 * 3600.0)  # a failure before the prediction was made says nothing of it
    assert opens(104 * 3600.0)  # it failed after all, and was repaired
