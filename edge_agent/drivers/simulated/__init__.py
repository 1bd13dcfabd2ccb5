"""``simulated``: sample a simulated machine on an event-time grid (see README.md here)."""

from edge_agent.drivers.simulated.driver import SimulatedDriver, create

__all__ = ["SimulatedDriver", "create"]
