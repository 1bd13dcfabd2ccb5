"""The Experience index learning from the state DB (predictor.experiencestate): a customer-day of
every customer once a day of event time, learnt with its label once 30 days have passed, the
parameters published for every process, and a rebuild (not a wipe) on another version or prior."""

from __future__ import annotations

import random
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.models import (
    Customer,
    CustomerRisk,
    ExperienceSnapshot,
    ExperienceState,
    RiskWeights,
)
from forestall.state.repo import append_event
from forestall.vocab import SEGMENTS
from predictor.experience import EXPERIENCE_VERSION, ExperienceModel, IndexParams, prior_params
from predictor.experiencestate import DAY, ExperienceLearning
from predictor.riskstate import index_params

START = 20_780 * DAY  # midnight UTC, 2026-11-22
CUSTOMERS = 20


def add_customers(session: Session, tenant: str = "acme", n: int = CUSTOMERS) -> list[str]:
    ids = [f"c{i:02d}" for i in range(n)]
    for i, cid in enumerate(ids):
        session.add(
            Customer(
                tenant=tenant,
                id=cid,
                name=cid,
                segment=SEGMENTS[(i // 2) % len(SEGMENTS)],  # neighbours share one
                sla_tier="silver",
                visit_sensitivity=0.5,
                created_at=time.time(),
            )
        )
    return ids


def billing_world(session: Session, customers: list[str], days: int, seed: int = 7) -> None:
    """Half the customers suffer billing errors and downgrade their contracts; outages, as
    frequent among both halves, bring nothing."""
    rng = random.Random(seed)
    for i, cid in enumerate(customers):
        billed, cut = i % 2 == 0, i % 4 in (0, 3)
        for day in range(days):
            at = START + day * DAY + rng.uniform(3600, 80_000)
            if billed and rng.random() < 0.1:
                append_event(session, "acme", "incident", at, {"kind": "billing_error"}, customer_id=cid)
            if rng.random() < (0.03 if billed else 0.003):
                append_event(session, "acme", "contract", at + 600, {"kind": "downgraded"}, customer_id=cid)
            if cut and rng.random() < 0.1:
                append_event(
                    session,
                    "acme",
                    "incident",
                    at,
                    {"kind": "outage", "resolved_at": at + 7200},
                    customer_id=cid,
                )


def run_days(sessions: sessionmaker[Session], learning: ExperienceLearning, first: int, last: int) -> None:
    for day in range(first, last):
        for minutes in (10, 600):  # twice a day: the second changes nothing
            with sessions.begin() as session:
                learning.advance(session, "acme", START + day * DAY + minutes * 60)


def state(session: Session) -> ExperienceState:
    row = session.get(ExperienceState, "acme")
    assert row is not None
    return row


def test_a_world_of_billing_errors_is_learnt_and_a_rebuild_learns_the_same(state_db_url: str) -> None:
    sessions = make_sessionmaker(make_engine(state_db_url))
    with sessions.begin() as session:
        billing_world(session, add_customers(session), days=91)
    learning = ExperienceLearning()
    run_days(sessions, learning, 0, 90)
    with sessions() as session:
        row = state(session)
        days = session.scalar(select(func.count()).select_from(ExperienceSnapshot))
        assert days == CUSTOMERS * 90  # one customer-day per customer and day, however often it ran
        learner = ExperienceModel.from_state(row.learner)
        assert learner is not None and learner.last_day == START + 58 * DAY  # 31 days behind
        assert learner.customer_days == CUSTOMERS * 59
        params = IndexParams.from_json(row.params)
        assert params is not None and params.in_force == "learned" and params.outcomes >= 20
        assert index_params(session, "acme") == params  # what every process scores with
        prior = prior_params()
        assert params.weights["billing_errors"] > 1.0 > 4 * prior.weights["billing_errors"]
        assert params.weights["outages"] < prior.weights["outages"]
        risk = session.get(CustomerRisk, ("acme", "c00"))
        assert risk is not None and risk.model == params.describe() and risk.at == START + 89 * DAY + 10 * 60
        before = {"learner": row.learner, "params": row.params, "covered": row.covered_until}

    # The next day, as learnt live ...
    run_days(sessions, learning, 90, 91)
    with sessions() as session:
        live = state(session).learner
    # ... and as rebuilt from the stored customer-days by a new worker finding an older version.
    with sessions.begin() as session:
        row = state(session)
        row.version, row.learner = "experience-0", {**before["learner"], "version": "experience-0"}
        row.snapshot_at, row.covered_until = START + 89 * DAY, before["covered"]
        session.query(ExperienceSnapshot).filter(ExperienceSnapshot.at == START + 90 * DAY).delete()
    run_days(sessions, ExperienceLearning(), 90, 91)
    with sessions() as session:
        rebuilt = state(session)
        assert rebuilt.version == EXPERIENCE_VERSION
        assert rebuilt.learner["customer_days"] == live["customer_days"] == CUSTOMERS * 60
        assert rebuilt.learner["outcomes"] == live["outcomes"]
        assert rebuilt.learner["mean"] == pytest.approx(live["mean"], abs=1e-9)


def test_a_new_prior_teaches_the_learner_again(state_db_url: str) -> None:
    sessions = make_sessionmaker(make_engine(state_db_url))
    with sessions.begin() as session:
        billing_world(session, add_customers(session, n=4), days=45)
    learning = ExperienceLearning()
    run_days(sessions, learning, 0, 40)
    with sessions.begin() as session:
        learnt = state(session).learner["customer_days"]
        assert learnt == 4 * 9
        session.add(RiskWeights(tenant="acme", weights={"outages": 0.0}, threshold_percent=50.0))
    with sessions() as session:  # while the prior is in force, the new weights apply at once
        assert index_params(session, "acme").weights["outages"] == 0.0
    run_days(sessions, learning, 40, 41)
    with sessions() as session:
        learner = ExperienceModel.from_state(state(session).learner)
        assert learner is not None and learner.prior["outages"] == 0.0
        assert learner.customer_days == learnt + 4  # all of it learnt again, and the new day
        assert learner.in_force == "prior" and learner.params().weights["outages"] == 0.0


def test_a_customer_day_knows_nothing_of_what_came_after_its_start(any_state_db_url: str) -> None:
    sessions = make_sessionmaker(make_engine(any_state_db_url))
    with sessions.begin() as session:
        add_customers(session, n=2)
        append_event(session, "acme", "incident", START + 3 * DAY - 60, {"kind": "outage"}, customer_id="c00")
        append_event(session, "acme", "incident", START + 3 * DAY + 60, {"kind": "outage"}, customer_id="c01")
    run_days(sessions, ExperienceLearning(), 3, 4)
    with sessions() as session:
        days = {s.customer_id: s for s in session.scalars(select(ExperienceSnapshot))}
        assert set(days) == {"c00", "c01"} and {s.at for s in days.values()} == {START + 3 * DAY}
        assert days["c00"].evidence["outages"] > 0 and days["c01"].evidence["outages"] == 0
        assert days["c00"].risk_index > days["c01"].risk_index == pytest.approx(10.0)
        assert days["c00"].segment == days["c01"].segment == "key"
        row = state(session)
        assert (row.version, row.snapshot_at, row.covered_until) == (
            EXPERIENCE_VERSION,
            START + 3 * DAY,
            None,
        )
        assert IndexParams.from_json(row.params) == prior_params()
        # The day's risks were refreshed (the outage after the start counts for today's index).
        risks = {r.customer_id: r.risk_index for r in session.scalars(select(CustomerRisk))}
        assert risks["c01"] > 10.0


def test_a_day_whose_transaction_rolled_back_is_taken_again(state_db_url: str) -> None:
    sessions = make_sessionmaker(make_engine(state_db_url))
    with sessions.begin() as session:
        add_customers(session, n=2)
    learning = ExperienceLearning()
    with sessions() as session:
        assert learning.advance(session, "acme", START + 60)  # the day's risks, as points
        session.rollback()  # the worker's chunk failed after it
    with sessions.begin() as session:
        assert learning.advance(session, "acme", START + 120)
        assert learning.advance(session, "acme", START + 180) == []  # once a day
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ExperienceSnapshot)) == 2
        assert state(session).snapshot_at == START
