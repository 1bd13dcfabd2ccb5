"""API keys: ``fs_<id>_<secret>``; only a SHA-256 of the whole key is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from forestall.contract import ID_RE
from forestall.roles import ROLES
from forestall.state.models import ApiKey

__all__ = ["ROLES", "create_key", "key_id_of", "list_keys", "lookup_key", "revoke_key"]


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


def key_id_of(key_or_id: str) -> str:
    """The public id of a key given as its id or as the whole ``fs_<id>_<secret>``."""
    parts = key_or_id.split("_", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "fs" else key_or_id


def list_keys(session: Session, tenant: str | None = None) -> Sequence[ApiKey]:
    """Every stored key (of ``tenant`` when given), oldest first; revoked ones included."""
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if tenant is not None:
        query = query.where(ApiKey.tenant == tenant)
    return session.scalars(query).all()


def revoke_key(session: Session, key_id: str) -> ApiKey | None:
    """Mark the key revoked (the API answers it 401 from the next request on); None when unknown."""
    record = session.get(ApiKey, key_id_of(key_id))
    if record is not None:
        record.revoked = True
    return record
