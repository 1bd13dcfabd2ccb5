"""Which failures of a chunk may pass if tried again (STYLE.md habit 4).

Retryable: the state DB or the telemetry store is unreachable, busy or locked — every message
waits, in order. Anything else is a property of the messages themselves (a value a column cannot
hold, text a database refuses, a bug one message triggers): permanent, so the worker finds that
message and sets it aside rather than retry it for good.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from forestall.series import StoreError


def is_retryable(exc: BaseException) -> bool:
    """
    >>> is_retryable(StoreError("influxdb unreachable", retryable=True)), is_retryable(ValueError("NUL"))
    (True, False)
    """
    if isinstance(exc, StoreError):
        return exc.retryable
    if isinstance(exc, DBAPIError):
        # OperationalError covers lost connections, locks, deadlocks and serialization failures;
        # DataError, IntegrityError and ProgrammingError are about the statement's values.
        return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    return isinstance(exc, ConnectionError | TimeoutError)
