"""Predictor: per-asset online models, the Experience Risk Index and visit planning."""
