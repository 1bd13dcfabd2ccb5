"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from forestall.state.models import Asset, Customer


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, interval: float = 0.1) -> bool:
    """Poll until ``condition`` holds; a generous deadline, never a timing assertion."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def add_customer_with_asset(
    session: Session, asset_id: str, *, criticality: int, visit_sensitivity: float, tenant: str = "acme"
) -> None:
    """A key, gold-tier customer ``c1`` owning one pump at site ``s1``."""
    session.add(
        Customer(
            tenant=tenant,
            id="c1",
            name="Acme",
            segment="key",
            sla_tier="gold",
            visit_sensitivity=visit_sensitivity,
            created_at=time.time(),
        )
    )
    session.add(
        Asset(
            tenant=tenant,
            id=asset_id,
            customer_id="c1",
            asset_type="pump",
            site="s1",
            criticality=criticality,
            safety_critical=False,
            created_at=time.time(),
        )
    )
