"""``replay``: emit the rows of a CSV file as samples (see README.md in this folder)."""

from edge_agent.drivers.replay.driver import ReplayDriver, create

__all__ = ["ReplayDriver", "create"]
