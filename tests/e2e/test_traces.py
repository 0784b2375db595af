"""One order's whole path in one trace: a stack of its own with tracing on in every process,
its spans received over real OTLP/HTTP (``ecomms_standins.otlp``), the order placed through the
gateway with a client's ``traceparent``."""

import contextlib
import json
import secrets
import uuid

import pytest
from ecomms_e2e.client import Api, login, read_mail, read_sms, wait_for
from ecomms_e2e.phone import verify_phone
from ecomms_e2e.stack import Stack, database_server, running

from ecomms_standins.otlp import OtlpReceiver

PHONE = "+254711444555"
PRODUCTS = [
    {
        "name": name,
        "description": f"{name}, traced end-to-end test",
        "price": price,
        "currency": "USD",
        "sku": f"E2E-TRACE-{index}",
        "categories": [["All Products", "Traced"]],
    }
    for index, (name, price) in enumerate([("Traced Figs", "2.50"), ("Traced Dates", "4.00")])
]


@pytest.fixture(scope="module")
def receiver():
    receiver = OtlpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def traced_stack(tmp_path_factory, receiver):
    environment = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # milliseconds: spans arrive soon after they end
    }
    workdir = tmp_path_factory.mktemp("traced-stack")
    stack = Stack(workdir, database_server=database_server(), environment=environment)
    with running(stack):
        yield stack


@pytest.fixture(scope="module")
def traced_order(traced_stack):
    """Alice's order of both products, placed with a client span's ``traceparent``."""
    admin = Api(traced_stack.gateway, login(traced_stack.gateway, "admin")["access"])
    uploaded = admin.post("/products/upload/", json={"products": PRODUCTS})
    assert uploaded.status_code == 201, uploaded.text
    alice = Api(traced_stack.gateway, login(traced_stack.gateway, "alice")["access"])
    assert verify_phone(alice, traced_stack.sms_record, PHONE)["phone_verified"] is True
    trace_id, client_span_id = secrets.token_hex(16), secrets.token_hex(8)
    response = alice.post(
        "/orders/",
        json={
            "items": [
                {"product_id": product, "quantity": 2} for product in uploaded.json()["created"]
            ],
            "currency": "USD",
        },
        headers={
            "Idempotency-Key": str(uuid.uuid4()),
            "traceparent": f"00-{trace_id}-{client_span_id}-01",
        },
    )
    assert response.status_code == 201, response.text
    order = response.json()
    number = f"#{order['id']} "
    wait_for(
        lambda: [sms for sms in read_sms(traced_stack.sms_record) if number in sms["message"]],
        timeout=30,
        what="the order's SMS",
    )
    wait_for(
        lambda: [
            m for m in read_mail(traced_stack.maildir) if m["Subject"] == f"New order {number[:-1]}"
        ],
        timeout=30,
        what="the order's admin email",
    )
    return {"order": order, "trace_id": trace_id, "client_span_id": client_span_id}


# Every process exports on its own schedule: a send's span may arrive before the relay's.
EXPECTED = {
    ("auth-gateway", "server"),
    ("orders", "server"),
    ("orders", "producer"),
    ("catalog", "server"),
    ("notifier", "consumer"),
}


def _whole_trace(receiver, trace_id, client_span_id):
    """The trace once every process's spans have arrived: each kind expected, both sends, and
    every parent exported (or the client's); after 30 s, what has arrived."""

    def complete():
        spans = receiver.trace(trace_id)
        ids = {span.span_id for span in spans} | {client_span_id}
        sends = [s for s in spans if s.service == "notifier" and s.kind == "client"]
        arrived = {(s.service, s.kind) for s in spans} >= EXPECTED and len(sends) >= 2
        return arrived and all(s.parent_span_id in ids for s in spans)

    with contextlib.suppress(TimeoutError):  # then the assertions say what is missing
        wait_for(complete, timeout=30, what=f"the spans of trace {trace_id}")
    return receiver.trace(trace_id)


def _one(spans, **match):
    found = [s for s in spans if all(getattr(s, key) == value for key, value in match.items())]
    assert found, f"no span with {match} among {[(s.service, s.kind, s.name) for s in spans]}"
    return found


def test_one_order_is_one_trace_from_the_client_to_both_sends(receiver, traced_order):
    trace_id, client_span_id = traced_order["trace_id"], traced_order["client_span_id"]
    spans = _whole_trace(receiver, trace_id, client_span_id)
    by_id = {span.span_id: span for span in spans}

    assert {"auth-gateway", "orders", "catalog", "notifier"} <= {s.service for s in spans}
    # The gateway continues the client's span and calls orders under it.
    [gateway_server] = _one(spans, service="auth-gateway", kind="server")
    assert gateway_server.parent_span_id == client_span_id
    [orders_server] = _one(spans, service="orders", kind="server")
    assert orders_server.parent_span_id == gateway_server.span_id
    # Orders asks the catalog for the prices: the catalog's server span is its client span's child.
    catalog_servers = _one(spans, service="catalog", kind="server")
    for catalog_server in catalog_servers:
        parent = by_id[catalog_server.parent_span_id]
        assert (parent.service, parent.kind) == ("orders", "client")
    # The relay publishes under the request that wrote the outbox row...
    [producer] = [s for s in _one(spans, kind="producer") if "order" in s.name]
    assert producer.service == "orders"
    assert by_id[producer.parent_span_id].trace_id == trace_id
    # ... and the notifier consumes under the relay's publish.
    [consumer] = _one(spans, service="notifier", kind="consumer")
    assert consumer.parent_span_id == producer.span_id
    sends = _one(spans, service="notifier", kind="client")
    assert {send.parent_span_id for send in sends} == {consumer.span_id}
    assert {send.name for send in sends} == {"POST /version1/messaging", "SMTP send"}
    # No orphan: every parent is a span of the trace, or the client's own span.
    orphans = [s for s in spans if s.parent_span_id and s.parent_span_id not in by_id]
    assert [s.parent_span_id for s in orphans] == [client_span_id]


def test_orders_and_notifier_log_lines_of_the_order_carry_its_trace_id(
    receiver, traced_stack, traced_order
):
    trace_id = traced_order["trace_id"]
    # the sends are done, so their log lines are written
    _whole_trace(receiver, trace_id, traced_order["client_span_id"])

    def lines(process):
        path = traced_stack.logs / f"{process}.log"
        parsed = []
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                parsed.append(json.loads(line))
        return parsed

    placed = [line for line in lines("orders") if line.get("message") == "order placed"]
    [line] = [line for line in placed if line.get("order_id") == traced_order["order"]["id"]]
    assert line["trace_id"] == trace_id
    assert len(line["span_id"]) == 16
    sent = [
        line
        for line in lines("notifier")
        if line.get("trace_id") == trace_id and line.get("message", "").endswith(" sent")
    ]
    assert sorted(line["message"].split()[0] for line in sent) == ["email", "sms"]
