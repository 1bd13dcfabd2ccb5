"""``ingest/mosquitto.conf``'s limits are real: Mosquitto parses each number with ``atoi`` into a C
int, so a value above INT_MAX wraps (2.0: the guard is void) or is refused (later releases).
(tests/ingest/test_broker_acl.py loads the very file into a real Mosquitto.)"""

from __future__ import annotations

import re
from pathlib import Path

CONF = Path(__file__).resolve().parents[2] / "ingest" / "mosquitto.conf"
INT_MAX = 2**31 - 1
# options Mosquitto holds in narrower types, with the range its config parser accepts
NARROWER = {"listener": (1, 65535), "max_inflight_messages": (0, 65535), "max_keepalive": (0, 65535)}


def _numbers() -> list[tuple[str, int]]:
    found = []
    for line in CONF.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        found += [(words[0], int(w)) for w in words[1:] if re.fullmatch(r"-?\d+", w)]
    return found


def test_every_number_fits_a_c_int() -> None:
    numbers = _numbers()
    assert ("max_queued_bytes", 1 << 30) in numbers  # the byte guard is there, and counted
    for option, value in numbers:
        low, high = NARROWER.get(option, (-INT_MAX - 1, INT_MAX))
        assert low <= value <= high, f"{option} {value} is outside {low}..{high}"
