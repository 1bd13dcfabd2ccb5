"""Webhook delivery from the outbox (docs/ARCHITECTURE.md, webhooks).

Errors, as httpx draws them: a *transport* error (connect, read, timeout) and a *status*
answer are kept apart. Both are retried with exponential backoff and jitter here, since a
receiver that is down or answers 5xx/429/408 usually recovers and even another 4xx may be
a deployment in progress; every attempt counts towards ``webhook_max_attempts``, after
which the delivery is ``dead`` until replayed.

- ``signing``: body and Standard Webhooks headers, signed afresh for every attempt.
- ``policy``: pure retry rules (backoff, Retry-After, next state).
- ``queue``: the state-DB side (claim due deliveries atomically and fairly, record attempts).
- ``egress``: where webhooks may go (public addresses, or the operator's allowed networks).
- ``transport``: httpx connections that go only to vetted addresses, under one deadline.
- ``dispatcher``: the background worker that ties them together over httpx.
"""
