"""Backtests that stream data sets through the same predictor code as live (prequential)."""
