"""One tenant's receivers cannot hurt another's: deadlines, capped replies, fair slots, egress.

Real receivers on loopback misbehave (``simulators/receivers.py``); the dispatcher runs on a
spare state DB of each backend, so the API server's own dispatcher does not compete.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.crud.webhooks import create_subscription
from api.webhooks.dispatcher import EXCERPT_CHARS, WebhookDispatcher
from api.webhooks.egress import EgressPolicy, EgressRefusedError
from forestall.settings import LOOPBACK, ApiSettings
from forestall.state.models import DeliveryAttempt, WebhookDelivery
from simulators.receivers import MisbehavingReceiver
from tests.conftest import WEBHOOK_SECRET
from tests.support import emit_events, new_tenant

LOOPBACK_ONLY = [LOOPBACK]


@pytest.fixture
def receivers() -> Iterator[Any]:
    made: list[MisbehavingReceiver] = []

    def make(mode: str, **options: Any) -> MisbehavingReceiver:
        receiver = MisbehavingReceiver(mode, **options).start()
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.stop()


def _subscribe(sessions: sessionmaker[Session], tenant: str, *urls: str) -> None:
    with sessions.begin() as session:
        for url in urls:
            create_subscription(session, tenant, url, [], WEBHOOK_SECRET, True)


def _attempts(sessions: sessionmaker[Session], tenant: str) -> list[DeliveryAttempt]:
    with sessions() as session:
        ids = select(WebhookDelivery.id).where(WebhookDelivery.tenant == tenant)
        return list(session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(ids))))


def _statuses(sessions: sessionmaker[Session], tenant: str) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(WebhookDelivery.status).where(WebhookDelivery.tenant == tenant)))


def _settings(**options: Any) -> ApiSettings:
    return ApiSettings(**{"webhook_allowed_networks": LOOPBACK_ONLY, "webhook_max_attempts": 1, **options})


def test_a_trickling_receiver_is_cut_off_at_the_deadline(
    spare: sessionmaker[Session], receivers: Any
) -> None:
    # 40 bytes, one each 0.25 s: no read ever waits a second, yet the answer takes 10 s.
    trickle = receivers("trickle", interval_s=0.25)
    tenant = new_tenant("i")
    _subscribe(spare, tenant, trickle.url)
    emit_events(spare, tenant, 1)
    dispatcher = WebhookDispatcher(spare, _settings(webhook_timeout_s=1.0))
    dispatcher.deliver_due()
    (attempt,) = _attempts(spare, tenant)
    assert attempt.status_code is None and attempt.error == "no complete answer within 1 s"
    assert attempt.duration_ms < dispatcher.lease_s * 1000  # never outlives its lease
    assert trickle.bytes_sent < 40


def test_a_flood_reply_is_read_only_up_to_a_cap(spare: sessionmaker[Session], receivers: Any) -> None:
    flood = receivers("flood")
    tenant = new_tenant("i")
    _subscribe(spare, tenant, flood.url)
    emit_events(spare, tenant, 1)
    WebhookDispatcher(spare, _settings(webhook_timeout_s=10.0)).deliver_due()
    (attempt,) = _attempts(spare, tenant)
    assert attempt.status_code == 500
    assert attempt.error is not None and attempt.error.startswith("HTTP 500: xxx")
    assert len(attempt.error) <= len("HTTP 500: ") + EXCERPT_CHARS
    time.sleep(0.5)  # what the socket buffers still took in is all the receiver could send
    assert flood.bytes_sent < 30_000_000 < flood.flood_bytes


def test_a_reply_with_nul_is_recorded_sanitised_and_the_batch_goes_on(
    spare: sessionmaker[Session], receivers: Any
) -> None:
    nul, ok = receivers("nul"), receivers("ok")
    tenant = new_tenant("i")
    _subscribe(spare, tenant, nul.url)
    healthy = new_tenant("i")
    _subscribe(spare, healthy, ok.url)
    emit_events(spare, tenant, 3)
    emit_events(spare, healthy, 3)
    WebhookDispatcher(spare, _settings()).deliver_due()
    errors = [a.error for a in _attempts(spare, tenant)]
    assert len(errors) == 3 and all(e and e.startswith("HTTP 500: upstream error") for e in errors)
    assert not any("\x00" in (e or "") for e in errors)
    assert _statuses(spare, tenant) == ["dead"] * 3  # one attempt allowed, recorded, not retried blindly
    assert _statuses(spare, healthy) == ["delivered"] * 3 and len(ok.arrivals) == 3 == ok.requests


def test_one_tenants_trickling_receivers_leave_slots_for_another(
    spare: sessionmaker[Session], receivers: Any, wait: Any
) -> None:
    trickle, ok = receivers("trickle", interval_s=3.0), receivers("ok")
    hostile, calm = new_tenant("i"), new_tenant("i")
    _subscribe(spare, hostile, *(f"{trickle.url}/{i}" for i in range(32)))  # each its own URL
    _subscribe(spare, calm, ok.url)
    emit_events(spare, hostile, 4)  # 128 deliveries that each hold a slot for the whole timeout
    settings = _settings(webhook_timeout_s=30.0, webhook_max_attempts=3)
    dispatcher = WebhookDispatcher(spare, settings, poll_interval_s=0.05)
    dispatcher.start()
    try:
        wait(lambda: trickle.requests >= settings.webhook_tenant_concurrency, what="the trickling receivers")
        emit_events(spare, calm, 10)
        dispatcher.wake()
        # Well inside the 30 s the hostile tenant's attempts hold their slots.
        wait(lambda: len(ok.arrivals) >= 10, timeout=15.0, what="the calm tenant's deliveries")
        assert trickle.requests <= settings.webhook_tenant_concurrency  # its share, no more
    finally:
        dispatcher.stop(timeout=1.0)


def test_a_host_that_resolves_inside_at_delivery_is_not_called(
    spare: sessionmaker[Session], receivers: Any
) -> None:
    ok = receivers("ok")
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])  # public when vetted, loopback at delivery
    policy = EgressPolicy([], resolver=lambda host, port: next(answers))
    url = f"http://rebind.test:{ok.port}/hook"
    policy.vet(url)  # what creating the subscription saw
    tenant = new_tenant("i")
    _subscribe(spare, tenant, url)
    emit_events(spare, tenant, 1)
    WebhookDispatcher(spare, _settings(), egress=policy).deliver_due()
    (attempt,) = _attempts(spare, tenant)
    assert ok.requests == 0
    assert attempt.error is not None and "127.0.0.1 is not public: loopback" in attempt.error


def test_the_request_goes_to_the_vetted_address_with_the_name_kept(
    spare: sessionmaker[Session], receivers: Any
) -> None:
    ok = receivers("ok")
    resolved: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    tenant = new_tenant("i")
    _subscribe(spare, tenant, f"http://fsm.test:{ok.port}/hook")
    emit_events(spare, tenant, 2)
    WebhookDispatcher(spare, _settings(), egress=EgressPolicy(LOOPBACK_ONLY, resolver)).deliver_due()
    assert _statuses(spare, tenant) == ["delivered", "delivered"]
    assert ok.hosts == [f"fsm.test:{ok.port}"] * 2 and set(resolved) == {"fsm.test"}


INTERNAL = [
    "10.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
]


@given(
    st.sampled_from(INTERNAL), st.integers(0, 2**32 - 1), st.sampled_from(["dotted", "int", "hex", "mapped"])
)
def test_internal_addresses_are_refused_in_every_spelling(network: str, bits: int, spelling: str) -> None:
    net = ipaddress.ip_network(network)
    address = net[bits % net.num_addresses]
    host = {
        "dotted": str(address),
        "int": str(int(address)),
        "hex": hex(int(address)),
        "mapped": f"[::ffff:{address}]",
    }[spelling]
    with pytest.raises(EgressRefusedError, match="not public"):
        EgressPolicy([]).vet(f"http://{host}/hook")


@pytest.mark.parametrize(
    "url", ["http://[fd00::1]/", "http://[::1]/", "http://[fe80::1]/", "http://[ff02::1]/"]
)
def test_internal_ipv6_is_refused_and_an_allowed_network_is_not(url: str) -> None:
    with pytest.raises(EgressRefusedError):
        EgressPolicy([]).vet(url)
    EgressPolicy(["::/0"]).vet(url)


def test_the_api_refuses_internal_webhook_urls_on_create_and_update(admin: httpx.Client) -> None:
    # The suite's API allows loopback only (its receivers listen there).
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/",
        "http://0xa9fea9fe/",
        "http://10.0.0.1/hook",
        "http://[fd00::1]/hook",
        "http://[::ffff:169.254.169.254]/",
        "http://no-such-host.invalid/",
    ):
        refused = admin.post("/v1/webhooks", json={"url": url})
        assert refused.status_code == 422, (url, refused.text)
        assert refused.json()["detail"][0]["loc"] == ["body", "url"]
    created = admin.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})
    assert created.status_code == 201
    patched = admin.patch(f"/v1/webhooks/{created.json()['id']}", json={"url": "http://10.1.2.3/"})
    assert patched.status_code == 422
    assert admin.get(f"/v1/webhooks/{created.json()['id']}").json()["url"] == "http://127.0.0.1:9/hook"


def test_a_tenant_has_at_most_its_cap_of_subscriptions(admin: httpx.Client) -> None:
    cap = ApiSettings().webhook_max_subscriptions
    for i in range(cap):
        assert admin.post("/v1/webhooks", json={"url": f"http://127.0.0.1:9/{i}"}).status_code == 201
    over = admin.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/over"})
    assert over.status_code == 409 and "at most" in over.json()["detail"]
