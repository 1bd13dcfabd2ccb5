"""Standard Webhooks: the request body and its signed headers.

>>> body = event_body("visit.updated", 0.0, {"id": "rec_1"})
>>> body
'{"type":"visit.updated","timestamp":"1970-01-01T00:00:00.000Z","data":{"id":"rec_1"}}'
>>> secret = new_secret()
>>> headers = signed_headers(secret, "msg_1", body, wall=1_800_000_000.7)
>>> headers["webhook-timestamp"], headers["webhook-signature"].startswith("v1,")
('1800000000', True)
>>> is_valid_secret(secret), is_valid_secret("whsec_"), is_valid_secret("plain")
(True, False, False)
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from forestall.contract import format_ts

SECRET_PREFIX = "whsec_"
USER_AGENT = "forestall-webhooks/1"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(os.urandom(24)).decode()


def is_valid_secret(secret: str) -> bool:
    """``whsec_`` followed by base64 of at least 16 bytes (what receivers' libraries accept)."""
    if not secret.startswith(SECRET_PREFIX):
        return False
    try:
        raw = base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==", validate=False)
    except (binascii.Error, ValueError):
        return False
    return len(raw) >= 16


def event_body(type_: str, timestamp: float, data: dict[str, Any]) -> str:
    """``{"type", "timestamp" (event time), "data"}`` as compact JSON."""
    return json.dumps({"type": type_, "timestamp": format_ts(timestamp), "data": data}, separators=(",", ":"))


def signed_headers(secret: str, msg_id: str, body: str, wall: float) -> dict[str, str]:
    """Headers for one attempt; ``wall`` is this attempt's wall-clock time."""
    seconds = int(wall)
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(seconds, UTC), body)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": signature,
    }
