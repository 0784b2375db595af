import json
import signal
import socket
import subprocess
import sys
import threading
import uuid

import pika
import pytest
import requests
from django.core.management import call_command
from django.db import connection, transaction

from ecomms_common.amqp import declare_topology, event_topology
from ecomms_common.events import Envelope
from ecomms_common.outbox.models import OutboxMessage
from ecomms_common.outbox.relay import OutboxRelay
from ecomms_common.outbox.services import outbox_enqueue
from ecomms_common.testing.broker import broker_channel, drain, queue_depth
from ecomms_common.testing.running import relay_killed_after_publish, running_relay, wait_for
from ecomms_standins.tcpproxy import TcpProxy
from tests.relaying import place, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_committed_event_is_published_with_its_envelope_and_properties(bound_queue, settings):
    # Only the commit's NOTIFY can wake the relay within the test's patience.
    settings.OUTBOX_POLL_SECONDS = 60
    with running_relay() as relay:
        wait_for(lambda: relay.listener.connection is not None, what="the relay to listen")
        envelope = Envelope(
            event_type="order.placed", event_version=1, producer="tests", data={"order_id": 7}
        )
        with transaction.atomic():
            outbox_enqueue(envelope=envelope)
        wait_for(lambda: queue_depth(bound_queue.name) == 1, what="the event to arrive")

    [(method, properties, body)] = drain(bound_queue.name)
    assert method.routing_key == "order.placed.v1"
    assert method.exchange == settings.EVENTS_EXCHANGE
    assert Envelope.from_json(body) == envelope
    assert properties.message_id == envelope.event_id
    assert properties.correlation_id == envelope.correlation_id
    assert properties.content_type == "application/json"
    assert properties.delivery_mode == 2
    row = OutboxMessage.objects.get()
    assert row.published_at is not None
    assert row.attempts == 1


def test_a_rolled_back_event_is_never_published(bound_queue, settings):
    with pytest.raises(RuntimeError), transaction.atomic():
        place(1)
        raise RuntimeError("the order failed")
    [kept] = place(1)
    call_command("relay_outbox", once=True)
    bodies = [json.loads(body) for _, _, body in drain(bound_queue.name)]
    assert [body["event_id"] for body in bodies] == [kept.event_id]


def test_events_are_published_in_commit_order_in_batches(bound_queue, settings):
    settings.OUTBOX_BATCH_SIZE = 7
    envelopes = place(30)
    call_command("relay_outbox", once=True)
    bodies = [json.loads(body) for _, _, body in drain(bound_queue.name)]
    assert [body["event_id"] for body in bodies] == [e.event_id for e in envelopes]
    assert not OutboxMessage.objects.filter(published_at__isnull=True).exists()


def test_several_relays_publish_every_row_once(bound_queue, settings):
    settings.OUTBOX_BATCH_SIZE = 5
    envelopes = place(60)
    relays = [OutboxRelay() for _ in range(3)]
    for relay in relays:
        relay.connect()

    def work(relay: OutboxRelay) -> None:
        try:
            while relay.publish_batch():
                pass
        finally:
            relay.disconnect()
            connection.close()

    threads = [threading.Thread(target=work, args=(relay,)) for relay in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    ids = [properties.message_id for _, properties, _ in drain(bound_queue.name)]
    assert sorted(ids) == sorted(e.event_id for e in envelopes)


def test_events_wait_while_rabbitmq_is_down_and_leave_once_it_is_back(bound_queue, settings):
    settings.OUTBOX_RETRY_MAX_SECONDS = 0.5
    with (
        TcpProxy("127.0.0.1", 5672) as proxy,
        running_relay(amqp_url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/") as relay,
    ):
        wait_for(lambda: relay.connection is not None, what="the relay to connect")
        proxy.cut()
        envelopes = place(5)  # the producer's transactions still commit
        wait_for(
            lambda: (
                OutboxMessage.objects.filter(attempts__gt=0).exists() or relay.connection is None
            ),
            what="the relay to notice",
        )
        assert OutboxMessage.objects.filter(published_at__isnull=True).count() == 5
        envelopes += place(3)
        proxy.restore()
        wait_for(
            lambda: not OutboxMessage.objects.filter(published_at__isnull=True).exists(),
            what="every row to be published",
        )
    ids = [properties.message_id for _, properties, _ in drain(bound_queue.name)]
    assert sorted(ids) == sorted(e.event_id for e in envelopes)


def test_an_unroutable_event_is_postponed_and_the_others_go_on(bound_queue, settings):
    [lost] = place(1, event_type="nobody.listens")
    [routed] = place(1)
    call_command("relay_outbox", once=True)
    unroutable = OutboxMessage.objects.get(event_id=lost.event_id)
    assert unroutable.published_at is None
    assert unroutable.last_error.startswith("unroutable")
    assert unroutable.next_attempt_at is not None
    assert OutboxMessage.objects.get(event_id=routed.event_id).published_at is not None
    [(_, properties, _)] = drain(bound_queue.name)
    assert properties.message_id == routed.event_id


def test_the_relay_declares_the_exchanges_and_no_queue(consumer_queue, settings):
    relay = OutboxRelay()
    relay.connect()
    relay.disconnect()
    with broker_channel() as channel:
        # A passive declare fails unless the exchange exists.
        channel.exchange_declare(settings.EVENTS_EXCHANGE, passive=True)
        channel.exchange_declare(settings.DEAD_LETTER_EXCHANGE, passive=True)
    with broker_channel() as channel, pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        channel.queue_declare(consumer_queue.name, passive=True)
    assert exc.value.reply_code == 404  # queues are their consumers' to declare


def test_a_consumers_queue_is_declared_with_explicit_arguments_again_and_again(
    consumer_queue, settings
):
    topology = event_topology([consumer_queue])
    with broker_channel() as channel:
        declare_topology(channel, topology)
        # Redeclaring with the same arguments is accepted: every start of a consumer declares.
        declare_topology(channel, topology)
        channel.basic_publish(settings.DEAD_LETTER_EXCHANGE, consumer_queue.name, b"{}")
        declared = channel.queue_declare(consumer_queue.name, passive=True)
    assert declared.method.message_count == 0
    assert queue_depth(consumer_queue.dead_letter_queue) == 1


def test_a_relay_killed_between_publish_and_mark_sent_publishes_again(bound_queue, settings):
    [envelope] = place(1)
    relay_killed_after_publish(
        [sys.executable, "-m", "django", "relay_outbox"],
        queue=bound_queue.name,
        env=subprocess_env(),
    )
    assert OutboxMessage.objects.get().published_at is None

    call_command("relay_outbox", once=True)
    ids = [properties.message_id for _, properties, _ in drain(bound_queue.name)]
    assert ids == [envelope.event_id, envelope.event_id]
    assert OutboxMessage.objects.get().published_at is not None


def test_a_relay_stops_cleanly_on_sigterm(bound_queue, settings):
    metrics_port = _free_port()
    relay = subprocess.Popen(
        [sys.executable, "-m", "django", "relay_outbox"],
        env=subprocess_env(
            OUTBOX_POLL_SECONDS="0.2",
            OUTBOX_RELAY_METRICS_PORT=str(metrics_port),
            OUTBOX_RELAY_METRICS_HOST="127.0.0.1",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        [envelope] = place(1)
        wait_for(lambda: queue_depth(bound_queue.name) == 1, what="the publish")
        # The row reaches the queue a moment before the relay commits and counts it.
        wait_for(
            lambda: (
                "ecomms_outbox_published_total 1.0"
                in requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
            ),
            what="the publish counted",
        )
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(15) == 0
    finally:
        relay.kill()
    assert "outbox relay stopped" in relay.stderr.read()
    assert uuid.UUID(drain(bound_queue.name)[0][1].message_id) == uuid.UUID(envelope.event_id)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_event_nobody_consumes_is_parked_after_bounded_attempts_and_can_be_requeued(
    bound_queue, settings, capsys
):
    settings.OUTBOX_UNROUTABLE_MAX_ATTEMPTS = 2
    [lost] = place(1, event_type="nobody.listens")
    relay = OutboxRelay()
    try:
        relay.publish_batch()
        OutboxMessage.objects.update(next_attempt_at=None)  # due again at once
        relay.publish_batch()
        parked = OutboxMessage.objects.get(event_id=lost.event_id)
        assert parked.parked_at is not None and parked.published_at is None
        assert parked.parked_reason == "no queue bound for nobody.listens.v1 after 2 attempts"
        OutboxMessage.objects.update(next_attempt_at=None)
        relay.publish_batch()  # a parked row is left alone
        assert OutboxMessage.objects.get(event_id=lost.event_id).attempts == 2

        call_command("outbox_parked", list=True)
        assert str(lost.event_id) in capsys.readouterr().out
        with broker_channel() as channel:  # someone now listens
            channel.queue_bind(bound_queue.name, settings.EVENTS_EXCHANGE, "nobody.#")
        call_command("outbox_parked", requeue=parked.id)
        assert relay.publish_batch() == 1
    finally:
        relay.disconnect()
    assert OutboxMessage.objects.get(event_id=lost.event_id).published_at is not None
    call_command("outbox_parked", list=True)
    assert str(lost.event_id) not in capsys.readouterr().out
