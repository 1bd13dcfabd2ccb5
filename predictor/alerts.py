"""Grafana alerts as evidence for the visit policy. Pure logic.

A firing alert on an asset (or, for a customer-level alert, on that customer's assets most at
risk) marks the asset; the planner then opens a visit for it, or escalates the one the models
opened, at priority P2 or higher (``planner``). A resolved alert clears the mark; a mark that
Grafana stopped repeating (it re-sends a firing alert every few hours) ends ``TTL_S`` of event
time after its last notification, so a Grafana that went away cannot keep visits open for good.

>>> alerts = Alerts()
>>> alerts.fire(("acme", "pump-1"), "HighFailureProbability", at=0.0)
>>> alerts.active(("acme", "pump-1"), now=3600.0)
('HighFailureProbability',)
>>> alerts.resolve(("acme", "pump-1"), "HighFailureProbability")
>>> alerts.active(("acme", "pump-1"), now=3600.0)
()
>>> most_at_risk({"a": 0.9, "b": 0.5, "c": 0.2, "d": 0.0})
['a', 'b']
"""

from __future__ import annotations

from collections.abc import Mapping

Key = tuple[str, str]  # (tenant, asset)
TTL_S = 24 * 3600.0
MOST_AT_RISK = 3  # a customer-level alert marks at most this many of its assets
SHARE_OF_TOP = 0.5  # … those at least this share as likely to fail as its most likely


class Alerts:
    """Active alerts per asset: alert name → event time of its latest firing notification."""

    def __init__(self) -> None:
        self._marks: dict[Key, dict[str, float]] = {}

    def fire(self, key: Key, name: str, at: float) -> None:
        names = self._marks.setdefault(key, {})
        names[name] = max(names.get(name, at), at)

    def resolve(self, key: Key, name: str) -> None:
        names = self._marks.get(key, {})
        names.pop(name, None)
        if not names:
            self._marks.pop(key, None)

    def active(self, key: Key, now: float) -> tuple[str, ...]:
        """The names of the alerts firing on ``key`` at event time ``now``."""
        names = self._marks.get(key)
        if not names:
            return ()
        for name in [n for n, at in names.items() if now - at > TTL_S]:
            del names[name]
        return tuple(sorted(names))


def most_at_risk(probabilities: Mapping[str, float]) -> list[str]:
    """The assets a customer-level alert is about: its most likely to fail (at least the top one)."""
    ranked = sorted(probabilities, key=lambda a: (-probabilities[a], a))
    if not ranked:
        return []
    top = probabilities[ranked[0]]
    return [a for a in ranked[:MOST_AT_RISK] if a == ranked[0] or probabilities[a] >= SHARE_OF_TOP * top > 0]
