"""Posting line protocol to a server, with its errors translated into two kinds.

``RetryableWriteError`` (connection refused, timeouts, 429, 5xx, and auth/bucket errors that an
operator can fix without losing data) and ``MalformedBatchError`` (400, 413, 422: the batch itself
is refused and retrying it will never help).
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from typing import Protocol

import httpx
import urllib3
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from forestall.contract import ID_RE
from forestall.settings import InfluxSettings

PERMANENT = {400, 413, 422}


class RetryableWriteError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MalformedBatchError(Exception):
    pass


class Transport(Protocol):
    def write(self, body: str, bucket: str) -> None:
        """Write to ``bucket`` ('' = the configured one)."""
        ...

    def delete_tenant(self, tenant: str, before: float) -> None:
        """Delete the tenant's points of every measurement stamped before ``before`` (epoch s)."""
        ...

    def close(self) -> None: ...


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (the HTTP-date form is treated as absent)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def classify(status: int, text: str, retry_after_header: str | None) -> Exception:
    message = f"HTTP {status}: {text[:500]}"
    if status in PERMANENT:
        return MalformedBatchError(message)
    return RetryableWriteError(message, retry_after(retry_after_header))


class V2Transport:
    """The v2 write API through influxdb-client (InfluxDB 2.x, 3.x, 1.8+, VictoriaMetrics)."""

    def __init__(self, settings: InfluxSettings) -> None:
        self.settings = settings
        self._created: set[str] = set()
        self.client = InfluxDBClient(
            url=settings.url,
            token=settings.token,
            org=settings.org,
            enable_gzip=True,
            timeout=int(settings.timeout_s * 1000),
            retries=False,
        )
        self.api = self.client.write_api(write_options=SYNCHRONOUS)

    def write(self, body: str, bucket: str) -> None:
        try:
            self.api.write(
                bucket=bucket or self.settings.bucket,
                org=self.settings.org,
                record=body.encode(),
                write_precision=WritePrecision.NS,  # type: ignore[arg-type]  # a str enum, typed str
            )
        except ApiException as exc:
            if exc.status == 404 and bucket and bucket not in self._created:
                self.ensure_bucket(bucket)  # a tenant's first point
                return self.write(body, bucket)
            headers: dict[str, str] = dict(exc.headers or {})
            raise classify(
                int(exc.status or 0), str(exc.body or exc.reason), headers.get("Retry-After")
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise RetryableWriteError(f"cannot reach {self.settings.url}: {exc}") from exc

    def delete_tenant(self, tenant: str, before: float) -> None:
        try:
            self.client.delete_api().delete(
                start=datetime.fromtimestamp(0, UTC),
                stop=datetime.fromtimestamp(before, UTC),
                predicate=f'tenant="{tenant}"',  # tenant ids are [A-Za-z0-9_-]: nothing to escape
                bucket=bucket_for(self.settings, tenant),
                org=self.settings.org,
            )
        except ApiException as exc:
            raise classify(int(exc.status or 0), str(exc.body or exc.reason), None) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise RetryableWriteError(f"cannot reach {self.settings.url}: {exc}") from exc

    def ensure_bucket(self, bucket: str) -> None:
        """A tenant's bucket (the configured one's retention) and the DBRP mapping InfluxQL needs."""
        from influxdb_client.domain.dbrp_create import DBRPCreate
        from influxdb_client.service.dbr_ps_service import DBRPsService

        try:
            buckets = self.client.buckets_api()
            found = buckets.find_bucket_by_name(bucket)  # type: ignore[no-untyped-call]
            if found is None:
                template = buckets.find_bucket_by_name(self.settings.bucket)  # type: ignore[no-untyped-call]
                rules = template.retention_rules if template is not None else []
                found = buckets.create_bucket(
                    bucket_name=bucket, retention_rules=rules, org=self.settings.org
                )
            mappings = DBRPsService(self.client.api_client)  # type: ignore[no-untyped-call]
            mappings.post_dbrp(  # type: ignore[no-untyped-call]
                DBRPCreate(  # type: ignore[no-untyped-call]
                    org=self.settings.org,
                    bucket_id=found.id,
                    database=bucket,
                    retention_policy="autogen",
                    default=True,
                )
            )
        except ApiException as exc:
            if exc.status not in (409, 422):  # the mapping exists (409 on 2.x, 422 on some versions)
                raise classify(int(exc.status or 0), str(exc.body or exc.reason), None) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise RetryableWriteError(f"cannot reach {self.settings.url}: {exc}") from exc
        self._created.add(bucket)  # only once it is there: a failed create is tried again

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]  # untyped library
        self.client.close()  # type: ignore[no-untyped-call]


class V1Transport:
    """``POST /write`` with gzip, for servers before 1.8 (db = bucket)."""

    def __init__(self, settings: InfluxSettings) -> None:
        self.settings = settings
        self.client = httpx.Client(base_url=settings.url, timeout=settings.timeout_s)
        self._created: set[str] = set()

    def write(self, body: str, bucket: str) -> None:
        db = bucket or self.settings.bucket
        try:
            response = self.client.post(
                "/write",
                params=v1_params(self.settings, db, precision="ns"),
                headers={"Content-Encoding": "gzip", **auth_headers(self.settings)},
                content=gzip.compress(body.encode(), compresslevel=1),
            )
        except httpx.HTTPError as exc:
            raise RetryableWriteError(f"cannot reach {self.settings.url}: {exc}") from exc
        if response.status_code == 404 and bucket and bucket not in self._created:
            self.ensure_database(bucket)  # a tenant's first point
            return self.write(body, bucket)
        if response.status_code >= 300:
            raise classify(response.status_code, response.text, response.headers.get("Retry-After"))

    def delete_tenant(self, tenant: str, before: float) -> None:
        self.statement(
            f"DELETE WHERE \"tenant\" = '{tenant}' AND time < {int(before * 1e9)}",
            bucket_for(self.settings, tenant),
        )

    def ensure_database(self, database: str) -> None:
        """A tenant's database (``CREATE DATABASE`` is idempotent); marked only once it is there."""
        self.statement(f'CREATE DATABASE "{database}"', database)
        self._created.add(database)

    def statement(self, statement: str, db: str) -> None:
        """Run an InfluxQL statement that changes data (by POST); errors classified as writes are."""
        try:
            response = self.client.post(
                "/query",
                params=v1_params(self.settings, db, q=statement),
                headers=auth_headers(self.settings),
            )
        except httpx.HTTPError as exc:
            raise RetryableWriteError(f"cannot reach {self.settings.url}: {exc}") from exc
        error = response.json().get("results", [{}])[0].get("error") if response.status_code == 200 else None
        if response.status_code >= 300 or error:
            raise classify(response.status_code if error is None else 400, error or response.text, None)

    def close(self) -> None:
        self.client.close()


def bucket_for(settings: InfluxSettings, tenant: str) -> str:
    """Where a tenant's points are: its own bucket with ``tenant_buckets``, else the configured one.

    A tenant id is ``[A-Za-z0-9_-]{1,64}`` (the contract's): the name goes into InfluxQL
    statements, so anything else is refused here rather than quoted.
    """
    if not settings.tenant_buckets:
        return settings.bucket
    if not ID_RE.fullmatch(tenant):
        raise ValueError(f"tenant must match [A-Za-z0-9_-]{{1,64}}, got {tenant[:80]!r}")
    return f"{settings.bucket}_{tenant}"


def v1_params(settings: InfluxSettings, db: str, **extra: str) -> dict[str, str]:
    params = {"db": db, **extra}
    if settings.username:
        params["u"], params["p"] = settings.username, settings.password
    return params


def auth_headers(settings: InfluxSettings) -> dict[str, str]:
    return {"Authorization": f"Token {settings.token}"} if settings.token else {}
