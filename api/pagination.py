"""Opaque keyset cursors: the sort key of the last item returned, base64url-encoded JSON.

>>> decode_cursor(encode_cursor([1795460400.5, "rec_1"]))
[1795460400.5, 'rec_1']
>>> decode_cursor("not a cursor") is None
True
>>> decode_cursor(base64.urlsafe_b64encode(b"[NaN]").decode()) is None
True
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

Key = list[Any]


def encode_cursor(key: Key) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key | None:
    """The key inside ``cursor``, or None when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    if not isinstance(key, list) or not key:
        return None
    if not all(_key_part(part) for part in key):
        return None
    return key


def _key_part(part: object) -> bool:
    # json.loads reads NaN and 1e999; no key we hand out holds them, and a query cannot use them.
    if isinstance(part, float):
        return math.isfinite(part)
    return isinstance(part, str | int) and not isinstance(part, bool)


def cursor_key(cursor: str | None, *types: type) -> tuple[Any, ...] | None:
    """The key of ``cursor`` when it has one part per type in ``types``; None otherwise.

    >>> cursor_key(encode_cursor([3]), int)
    (3,)
    >>> cursor_key(encode_cursor(["a"]), int) is None
    True
    """
    key = decode_cursor(cursor) if cursor else None
    if key is None or len(key) != len(types):
        return None
    for part, kind in zip(key, types, strict=True):
        if kind is float and isinstance(part, int):
            continue
        if not isinstance(part, kind):
            return None
    return tuple(float(p) if kind is float else p for p, kind in zip(key, types, strict=True))
