"""Fault drills: the whole system through the gateway while something it depends on fails.

Each drill injects its fault from outside the services (a signal to a process, a cut TCP proxy, a
provider that refuses), records what the client saw, waits (bounded) until the system settles and
then counts, per committed order, the SMS and the email the providers accepted and the permanent
failures the notifier recorded: exactly one each, nothing lost, nothing duplicated.
"""

import signal
import time
import uuid

import pytest
from ecomms_drills.ledger import Ledger, Tally
from ecomms_drills.outside import Behaviour
from ecomms_drills.stack import QUICK_RETRIES
from ecomms_drills.traffic import Burst, Reply, describe, place
from ecomms_e2e.client import wait_for

# Bounds, generous on a busy machine: they catch a hang, not a slow run.
FAST_503_SECONDS = 10.0  # catalog refusing connections: retries of a refused connect are quick
TIMEOUT_503_SECONDS = 25.0  # catalog not answering: orders' read timeout times its attempts
BURST_SECONDS = 120.0
RECOVERY_SECONDS = 45.0


def assert_exactly_once(ledger: Ledger, tally: Tally) -> None:
    assert tally.orders, "the drill committed no order at all"
    assert not tally.problems(), "\n".join(tally.problems())
    assert not ledger.phantoms(), ledger.phantoms()


def settled_exactly_once(ledger: Ledger, replies: list[Reply], count: int) -> Tally:
    """Check that the client got ``count`` orders created, then that each of them, and only
    they, ended in exactly one SMS and one email once the system settled."""
    assert [r.status for r in replies] == [201] * count, describe(replies)
    tally = ledger.settle()
    assert tally.orders == sorted(r.order_id for r in replies)
    assert_exactly_once(ledger, tally)
    return tally


def order_created(api, product):
    """Once the catalog is back: wait until no orders process's catalog breaker can still be
    open, then place an order until one is created.

    Each orders worker process has its own breaker, and an order closes only the breaker of the
    process that placed it: one that opened in the drill stays open for
    ``CATALOG_BREAKER_RESET_SECONDS`` whatever the others do, and would answer the next drill's
    first orders 503 catalog_unavailable (the gateway's kept connections may all lead to it).
    After that period, the first order each process takes is its breaker's trial, and succeeds;
    the orders that reach that process while its trial runs wait for it and succeed too.
    """
    time.sleep(float(QUICK_RETRIES["CATALOG_BREAKER_RESET_SECONDS"]) + 0.5)

    def attempt():
        reply = place(api, product)
        return reply if reply.status == 201 else None

    return wait_for(attempt, timeout=RECOVERY_SECONDS, what="an order to be created", every=0.5)


def test_catalog_killed_while_orders_arrive(stack, alice, product, report):
    ledger = Ledger(stack)
    before = [place(alice, product) for _ in range(2)]
    assert [r.status for r in before] == [201, 201], before
    stack.kill("catalog")
    down = [place(alice, product) for _ in range(4)]
    assert ledger.committed() == [r.order_id for r in before], "an order without a catalog"
    stack.restart("catalog")
    after = order_created(alice, product)

    assert [(r.status, r.code) for r in down] == [(503, "catalog_unavailable")] * 4, down
    assert max(r.seconds for r in down) < FAST_503_SECONDS, down
    tally = ledger.settle()
    assert tally.orders == [*(r.order_id for r in before), after.order_id]
    assert_exactly_once(ledger, tally)
    report("catalog killed while orders arrive", f"catalog down: {describe(down)}", tally)


def test_catalog_slow_beyond_the_client_timeout(stack, alice, product, report):
    ledger = Ledger(stack)
    stack.signal("catalog", signal.SIGSTOP)  # connections are accepted, nothing answers
    try:
        # Two at once: even when both land on one orders process, which makes its catalog calls
        # one at a time, the second is answered within the gateway's upstream timeout (15 s).
        burst = Burst(alice, product, 2, threads=2).start()
        burst.join(timeout=BURST_SECONDS)
        slow = burst.replies()
    finally:
        stack.signal("catalog", signal.SIGCONT)
    assert ledger.committed() == [], "an order without a catalog answer"
    after = order_created(alice, product)

    assert [(r.status, r.code) for r in slow] == [(503, "catalog_unavailable")] * 2, slow
    assert max(r.seconds for r in slow) < TIMEOUT_503_SECONDS, slow
    tally = ledger.settle()
    assert tally.orders == [after.order_id]
    assert_exactly_once(ledger, tally)
    report("catalog slow beyond the client timeout", f"catalog stalled: {describe(slow)}", tally)


def test_every_order_gets_503_while_the_catalog_stalls_under_load(stack, alice, product):
    ledger = Ledger(stack)
    stack.signal("catalog", signal.SIGSTOP)
    try:
        burst = Burst(alice, product, 6, threads=6).start()
        burst.join(timeout=BURST_SECONDS)
    finally:
        stack.signal("catalog", signal.SIGCONT)
    assert ledger.committed() == [], "an order without a catalog answer"
    order_created(alice, product)
    stalled = burst.replies()
    assert [(r.status, r.code) for r in stalled] == [(503, "catalog_unavailable")] * 6, stalled


def test_rabbitmq_restarted_during_a_burst_of_orders(stack, alice, product, report):
    ledger = Ledger(stack)
    broker = stack.proxies["rabbitmq"]
    burst = Burst(alice, product, 12).start()
    burst.wait_until_answered(3, timeout=BURST_SECONDS)
    broker.cut()  # every connection of the relay and the consumer drops; new ones are refused
    burst.join(timeout=BURST_SECONDS)
    time.sleep(2)
    waiting = ledger.unpublished()
    broker.restore()

    assert waiting > 0, "no event waited for the broker: the outage did not bite"
    replies = burst.replies()
    tally = settled_exactly_once(ledger, replies, 12)
    assert stack.dead() == []
    report(
        "RabbitMQ restarted during a burst",
        f"{describe(replies)}; {waiting} events waited in the outbox",
        tally,
    )


def test_relay_killed_mid_flight(stack, alice, product, report):
    ledger = Ledger(stack)
    burst = Burst(alice, product, 12).start()
    burst.wait_until_answered(4, timeout=BURST_SECONDS)
    stack.kill("relay")
    burst.join(timeout=BURST_SECONDS)
    waiting = ledger.unpublished()
    stack.restart("relay")

    assert waiting > 0, "no event waited for the relay: the kill did not bite"
    replies = burst.replies()
    tally = settled_exactly_once(ledger, replies, 12)
    report(
        "relay killed (SIGKILL) mid-flight",
        f"{describe(replies)}; {waiting} events waited for the restart",
        tally,
    )


def test_consumer_killed_mid_flight(stack, alice, product, report):
    ledger = Ledger(stack)
    outside = stack.outside
    # The providers hold every request: deliveries are in flight when the consumer dies, and the
    # held requests are refused afterwards (the provider never accepted them).
    outside.hold()
    burst = Burst(alice, product, 8).start()
    burst.join(timeout=BURST_SECONDS)
    replies = burst.replies()
    in_flight = wait_for(outside.held, timeout=RECOVERY_SECONDS, what="an SMS and an email held")
    stack.kill("notifier")
    outside.behave(Behaviour.ACCEPT)
    stack.restart("notifier")

    tally = settled_exactly_once(ledger, replies, 8)
    attempts = sum(tally.sms_attempts.values()) + sum(tally.email_attempts.values())
    assert attempts >= 16 + in_flight, "the requests held at the kill were not sent again"
    report(
        "consumer killed (SIGKILL) mid-flight",
        f"{describe(replies)}; {in_flight} deliveries in flight at the kill",
        tally,
    )


def test_postgresql_connections_of_orders_dropped_under_load(stack, alice, product, report):
    ledger = Ledger(stack)
    database = stack.proxies["orders-postgresql"]
    burst = Burst(alice, product, 12, careful=True).start()
    for answered, outage in ((3, 0.5), (7, 1.5)):
        burst.wait_until_answered(answered, timeout=BURST_SECONDS)
        database.cut()  # orders (web and relay) loses every connection
        time.sleep(outage)
        database.restore()
    orders = burst.join(timeout=BURST_SECONDS)
    replies = burst.replies()

    assert [r[-1].status for r in orders] == [201] * 12, describe(replies)
    created = {r[-1].order_id for r in orders}
    assert len(created) == 12, "one Idempotency-Key, one order"
    tally = ledger.settle()
    assert sorted(created) == tally.orders, "an order the client was never told about"
    assert_exactly_once(ledger, tally)
    assert stack.dead() == []
    report("PostgreSQL connections of orders dropped under load", describe(replies), tally)


def test_notifier_database_dropped_while_the_providers_accept(stack, alice, product):
    ledger = Ledger(stack)
    outside = stack.outside
    outside.hold()  # deliveries wait for the providers' answers, their rows locked
    replies = [place(alice, product) for _ in range(2)]
    wait_for(outside.held, timeout=RECOVERY_SECONDS, what="an SMS and an email held")
    stack.proxies["notifier-postgresql"].cut()
    time.sleep(0.5)
    stack.proxies["notifier-postgresql"].restore()
    outside.behave(Behaviour.ACCEPT, accept_held=True)  # the providers accept what they held
    settled_exactly_once(ledger, replies, 2)


def test_orders_answers_503_while_its_database_is_unreachable(stack, alice, product):
    database = stack.proxies["orders-postgresql"]
    database.cut()
    try:
        reply = place(alice, product, key=str(uuid.uuid4()))
    finally:
        database.restore()
    assert (reply.status, reply.code) == (503, "database_unavailable"), reply


@pytest.mark.parametrize(
    ("behaviour", "what"),
    [
        (Behaviour.FAIL_FIRST_ATTEMPT, "SMS HTTP 500 then 201, SMTP 451 then 250"),
        (Behaviour.FAIL_FOR_GOOD, "SMS recipient status 403, SMTP 550"),
    ],
    ids=["transiently", "permanently"],
)
def test_sms_and_smtp_servers_failing(stack, alice, product, report, behaviour, what):
    ledger = Ledger(stack)
    stack.outside.behave(behaviour)
    replies = [place(alice, product) for _ in range(4)]
    tally = settled_exactly_once(ledger, replies, 4)
    expected_attempts = 2 if behaviour is Behaviour.FAIL_FIRST_ATTEMPT else 1
    for order in tally.orders:
        assert tally.sms_attempts[order] == expected_attempts, tally.sms_attempts
        assert tally.email_attempts[order] == expected_attempts, tally.email_attempts
    if behaviour is Behaviour.FAIL_FOR_GOOD:
        assert sum(tally.sms.values()) + sum(tally.emails.values()) == 0
    else:
        assert sum(tally.sms_failed.values()) + sum(tally.emails_failed.values()) == 0
    attempts = sum(tally.sms_attempts.values()) + sum(tally.email_attempts.values())
    report(
        f"SMS and SMTP failing {'for good' if expected_attempts == 1 else 'transiently'}",
        f"{describe(replies)}; providers: {what}, {attempts} requests",
        tally,
    )
