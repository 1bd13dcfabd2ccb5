"""Forestall: predictive field service. Shared wire contract, settings, state DB and CLI."""

__version__ = "0.1.0"
