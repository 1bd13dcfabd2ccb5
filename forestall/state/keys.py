"""API keys: ``fs_<id>_<secret>``; only a SHA-256 of the whole key is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from sqlalchemy.orm import Session

from forestall.contract import ID_RE
from forestall.roles import ROLES
from forestall.state.models import ApiKey

__all__ = ["ROLES", "create_key", "lookup_key"]


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, tenant: str, role: str, name: str | None = None) -> str:
    """Store a new key and return it in clear; it cannot be read back later."""
    if not ID_RE.fullmatch(tenant):
        raise ValueError(f"tenant must match [A-Za-z0-9_-]{{1,64}}: {tenant!r}")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}: {role!r}")
    key_id = secrets.token_hex(8)
    key = f"fs_{key_id}_{secrets.token_urlsafe(32)}"
    session.add(
        ApiKey(
            id=key_id,
            tenant=tenant,
            role=role,
            key_hash=_digest(key),
            name=name,
            created_at=time.time(),
            revoked=False,
        )
    )
    return key


def lookup_key(session: Session, key: str) -> ApiKey | None:
    """The stored key record for ``key``, or None when unknown, malformed or revoked."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "fs":
        return None
    record = session.get(ApiKey, parts[1])
    if record is None or record.revoked:
        return None
    return record if hmac.compare_digest(record.key_hash, _digest(key)) else None
