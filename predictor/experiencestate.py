"""The Experience index learns from outcomes, a day of each tenant's event clock at a time: the
state DB edge of ``predictor.experience``.

``ExperienceLearning.advance(session, tenant, clock)`` is called by the worker that owns the
tenant's index (``INDEX_OWNER``) as the tenant's event clock moves. When the clock has passed a
day boundary (midnight UTC of event time) whose customer-days are not taken yet, it:

1. reads the tenant's learner from ``experience_state``; a learner of another version, or under
   another prior than the tenant's weights give now, is rebuilt: a fresh one is taught every
   stored customer-day whose label is known, in event-time order (a rebuild, not a wipe);
2. learns the customer-days whose ``HORIZON_DAYS`` (and ``GRACE_S`` for late reports) have
   passed, each labelled by whether a negative outcome (``forestall.state.outcomes``) followed
   within the horizon, and counts the negative outcomes that came into view;
3. writes the parameters in force and the learner to ``experience_state`` (every process reads
   the parameters there);
4. takes a customer-day of every customer: the drivers' evidence from the events up to the
   boundary and the health stored now, and the index the parameters in force give it;
5. recomputes every customer's risk with them, returning its points.

Customer-days older than ``KEEP_DAYS`` are dropped.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Iterator, Sequence
from itertools import groupby

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from forestall.series import Point
from forestall.state.models import Customer, ExperienceSnapshot, ExperienceState
from forestall.state.outcomes import negative_outcomes
from predictor.experience import EXPERIENCE_VERSION, HORIZON_DAYS, ExperienceModel, IndexParams, features
from predictor.risk import DEFAULT_WEIGHTS
from predictor.riskstate import (
    customer_evidence,
    index_params,
    refresh_customer_risk,
    risk_point,
    tenant_weights,
)

log = logging.getLogger(__name__)
DAY = 86_400.0
HORIZON_S = HORIZON_DAYS * DAY
GRACE_S = DAY  # a customer-day is learnt this long after its horizon: outcomes reported late count
KEEP_DAYS = 400
INDEX_OWNER = ""  # the owner key of a tenant's index (``owns(tenant, INDEX_OWNER)``)


class ExperienceLearning:
    """Taking customer-days and learning from them, per tenant, as its event clock moves."""

    def __init__(self) -> None:
        # per tenant: the next day boundary to act on, and the session that found it so (a day
        # done in a transaction that then rolled back is done again in the next one)
        self._due: dict[str, tuple[float, Session]] = {}

    def advance(self, session: Session, tenant: str, clock: float) -> list[Point]:
        """The tenant's event clock reached ``clock``: the day's customer-days and learning, once."""
        due = self._due.get(tenant)
        if due is not None and clock < due[0] and due[1] is session:
            return []
        day = math.floor(clock / DAY) * DAY
        self._due[tenant] = (day + DAY, session)
        row = session.get(ExperienceState, tenant)
        prior = {**DEFAULT_WEIGHTS, **tenant_weights(session, tenant)[0]}
        if _done(row, prior, day):
            return []  # this day is done (in an earlier chunk, before a restart, by an earlier owner)
        learner = _restore(row, prior)
        covered = row.covered_until if row is not None and learner is not None else None
        if learner is None:
            learner, covered = ExperienceModel(prior), None
            if row is not None:
                log.warning(
                    "experience index of %s: a learner of another version or prior; rebuilding", tenant
                )
        covered = learn_matured(session, tenant, learner, covered, clock - HORIZON_S - GRACE_S)
        _store(session, tenant, learner, day, covered, clock)
        take_customer_days(session, tenant, day, index_params(session, tenant))
        session.execute(
            delete(ExperienceSnapshot).where(
                ExperienceSnapshot.tenant == tenant, ExperienceSnapshot.at < day - KEEP_DAYS * DAY
            )
        )
        return refresh_all(session, tenant, clock)


def _done(row: ExperienceState | None, prior: dict[str, float], day: float) -> bool:
    """Whether the day's customer-days were taken by a learner of this version and prior."""
    return (
        row is not None
        and row.version == EXPERIENCE_VERSION
        and row.snapshot_at is not None
        and row.snapshot_at >= day
        and row.learner.get("version") == EXPERIENCE_VERSION
        and row.learner.get("prior") == prior
    )


def _restore(row: ExperienceState | None, prior: dict[str, float]) -> ExperienceModel | None:
    """The stored learner, if it is of this version and learnt under the tenant's prior now."""
    if row is None or row.version != EXPERIENCE_VERSION:
        return None
    learner = ExperienceModel.from_state(row.learner)
    return learner if learner is not None and learner.prior == prior else None


def _store(
    session: Session, tenant: str, learner: ExperienceModel, day: float, covered: float | None, clock: float
) -> None:
    row = session.get(ExperienceState, tenant)
    if row is None:
        row = ExperienceState(tenant=tenant)
        session.add(row)
    row.version, row.params, row.learner = EXPERIENCE_VERSION, learner.params().to_json(), learner.to_state()
    row.snapshot_at, row.covered_until, row.updated_at = day, covered, clock


def take_customer_days(session: Session, tenant: str, day: float, params: IndexParams) -> int:
    """A customer-day of every customer of the tenant at ``day`` (once); returns how many were taken."""
    taken = 0
    for customer in session.scalars(select(Customer).where(Customer.tenant == tenant).order_by(Customer.id)):
        if session.get(ExperienceSnapshot, (tenant, customer.id, day)) is not None:
            continue
        evidence = customer_evidence(session, customer, day, until=day)
        index = params.explain(evidence, customer.segment).index
        session.add(
            ExperienceSnapshot(
                tenant=tenant,
                customer_id=customer.id,
                at=day,
                segment=customer.segment,
                evidence={k: round(v, 6) for k, v in evidence.items()},
                risk_index=index,
            )
        )
        taken += 1
    session.flush()
    return taken


def learn_matured(
    session: Session, tenant: str, learner: ExperienceModel, covered: float | None, until: float
) -> float | None:
    """Teach ``learner`` the stored customer-days after the last it learnt, up to ``until``, day by
    day; returns the event time up to which negative outcomes have now been counted."""
    stmt = select(ExperienceSnapshot).where(
        ExperienceSnapshot.tenant == tenant, ExperienceSnapshot.at <= until
    )
    if learner.last_day is not None:
        stmt = stmt.where(ExperienceSnapshot.at > learner.last_day)
    days = list(session.scalars(stmt.order_by(ExperienceSnapshot.at, ExperienceSnapshot.customer_id)))
    if not days:
        return covered
    start = days[0].at if covered is None else min(covered, days[0].at)
    end = days[-1].at + HORIZON_S
    outcomes = {
        customer: [o.at for o in found if o.at <= end]
        for customer, found in negative_outcomes(session, tenant, start=start, end=end + 1.0).items()
    }
    every = sorted(t for times in outcomes.values() for t in times)
    for at, group in _by_day(days):
        rows = [
            (features(s.evidence, s.segment), _followed(outcomes.get(s.customer_id, []), at)) for s in group
        ]
        low = at if covered is None else covered
        seen = bisect.bisect_right(every, at + HORIZON_S) - bisect.bisect_right(every, low)
        learner.learn_day(at, rows, max(seen, 0))
        covered = max(low, at + HORIZON_S)
    return covered


def _by_day(days: Sequence[ExperienceSnapshot]) -> Iterator[tuple[float, list[ExperienceSnapshot]]]:
    for at, group in groupby(days, key=lambda s: s.at):
        yield at, list(group)


def _followed(times: list[float], at: float) -> bool:
    """Whether a negative outcome came within the horizon after ``at`` (``times`` sorted)."""
    i = bisect.bisect_right(times, at)
    return i < len(times) and times[i] <= at + HORIZON_S


def refresh_all(session: Session, tenant: str, now: float) -> list[Point]:
    """Every customer's risk of the tenant recomputed at ``now``, as points for the store."""
    points = []
    for customer_id in session.scalars(select(Customer.id).where(Customer.tenant == tenant)):
        risk = refresh_customer_risk(session, tenant, customer_id, now)
        if risk is not None:
            points.append(risk_point(risk))
    return points
