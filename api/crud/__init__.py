"""The data layer: reads and writes of the state DB for the routes.

Functions return values or None and never raise HTTP errors; they do not commit (the
route commits once, so a change and the outbox rows it causes land together).
"""
