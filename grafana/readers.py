"""The InfluxDB side of a tenant's Grafana organisation: a credential that reads the tenant's
bucket (database) and nothing else, made or found again on every push.

- v1 (InfluxDB 1.x): the user ``grafana_<tenant>`` with ``GRANT READ`` on ``<bucket>_<tenant>``,
  its password derived from the store's admin credential (``push.reader_for``).
- v2 (InfluxDB 2.x): a token with read permission on the tenant's bucket only, created once with
  the description ``forestall grafana reader <tenant>`` and found again by it.
"""

from __future__ import annotations

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.domain.authorization import Authorization
from influxdb_client.domain.permission import Permission
from influxdb_client.domain.permission_resource import PermissionResource

from forestall.settings import InfluxSettings
from grafana.push import Reader, reader_for
from ingest.store.influxdb.transport import MalformedBatchError, V1Transport, V2Transport, bucket_for


def reader_statements(reader: Reader) -> tuple[str, list[str]]:
    """InfluxQL that makes ``reader`` a user who may read its database and nothing else: the
    user's creation, then what sets its password and grant whether it was just made or not."""
    return f"CREATE USER \"{reader.username}\" WITH PASSWORD '{reader.password}'", [
        f"SET PASSWORD FOR \"{reader.username}\" = '{reader.password}'",
        f'GRANT READ ON "{reader.database}" TO "{reader.username}"',
    ]


def ensure_reader(settings: InfluxSettings, tenant: str) -> Reader:
    """The tenant's bucket exists and a read-only credential for it; that credential."""
    reader = reader_for(settings, tenant)
    if settings.api == "v1":
        transport = V1Transport(settings)
        try:
            transport.ensure_database(reader.database)
            create, settle = reader_statements(reader)
            try:
                transport.statement(create, reader.database)
            except MalformedBatchError as exc:
                # there with another password (the store's credential was rotated): set next
                if "already exists" not in str(exc):
                    raise
            for statement in settle:
                transport.statement(statement, reader.database)
        finally:
            transport.close()
        return reader
    bucket = bucket_for(settings, tenant)
    writer = V2Transport(settings)
    try:
        writer.ensure_bucket(bucket)
    finally:
        writer.close()
    description = f"forestall grafana reader {tenant}"
    with InfluxDBClient(url=settings.url, token=settings.token, org=settings.org) as client:
        org_id = client.organizations_api().find_organizations(org=settings.org)[0].id
        found = client.buckets_api().find_bucket_by_name(bucket)
        for auth in client.authorizations_api().find_authorizations(org_id=org_id):
            if auth.description == description and auth.token:
                return Reader(bucket, token=auth.token)
        read = Permission(  # type: ignore[no-untyped-call]
            action="read",
            resource=PermissionResource(type="buckets", id=found.id, org_id=org_id),  # type: ignore[no-untyped-call]
        )
        made = client.authorizations_api().create_authorization(
            authorization=Authorization(org_id=org_id, permissions=[read], description=description)  # type: ignore[no-untyped-call]
        )
        return Reader(bucket, token=made.token)
