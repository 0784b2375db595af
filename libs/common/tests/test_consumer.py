import dataclasses
import threading

import pika
import pytest

from ecomms_common.amqp import ConsumerQueue, event_topology
from ecomms_common.consumer import EventConsumer, RejectMessage
from ecomms_common.events import Envelope
from ecomms_common.testing.broker import broker_channel, queue_depth
from ecomms_common.testing.running import wait_for
from ecomms_standins.tcpproxy import TcpProxy


class Recorder:
    """A handler that records what it took in and fails as told."""

    def __init__(self) -> None:
        self.handled: list[bytes] = []
        self.after_ack: list[bytes] = []
        self.fail_once: set[bytes] = set()
        self.fail_always: set[bytes] = set()
        self.attempts: list[bytes] = []

    def __call__(self, body: bytes, properties: pika.BasicProperties):
        if body == b"poison":
            raise RejectMessage("cannot be handled")
        self.attempts.append(body)
        if body in self.fail_always:
            raise RuntimeError("a bug")
        if body in self.fail_once:
            self.fail_once.discard(body)
            raise RuntimeError("database down")
        if body.startswith(b"{"):
            Envelope.from_json(body)  # raises MalformedEvent
        self.handled.append(body)
        return lambda: self.after_ack.append(body)


def _publish(settings, *bodies: bytes) -> None:
    with broker_channel() as channel:  # confirmed, each
        for body in bodies:
            channel.basic_publish(settings.EVENTS_EXCHANGE, "order.placed.v1", body)


@pytest.fixture
def consumer(consumer_queue):
    recorder = Recorder()
    stop = threading.Event()
    made = []

    def start(amqp_url: str | None = None, queue: ConsumerQueue = consumer_queue) -> EventConsumer:
        consumer = EventConsumer(
            queue=queue.name,
            topology=event_topology([queue]),  # declared by the consumer, as a service's is
            handler=recorder,
            stop=stop,
            prefetch=5,
            amqp_url=amqp_url,
            retry_max_seconds=0.5,
            retry_in_place_seconds=1.0,
        )
        consumer.recorder = recorder
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        made.append(thread)
        wait_for(consumer.connected.is_set, what="the consumer to connect")
        return consumer

    yield start
    stop.set()
    for thread in made:
        thread.join(10)
        assert not thread.is_alive()


def test_messages_are_handled_acked_and_followed_up(consumer, consumer_queue, settings):
    recorder = consumer().recorder
    _publish(settings, b"one", b"two")
    wait_for(lambda: recorder.after_ack == [b"one", b"two"], what="both messages")
    assert recorder.handled == [b"one", b"two"]
    assert queue_depth(consumer_queue.name) == 0


def test_unusable_messages_are_dead_lettered_and_the_rest_go_on(consumer, consumer_queue, settings):
    recorder = consumer().recorder
    _publish(settings, b"poison", b"{not json", b"after")
    wait_for(lambda: recorder.handled == [b"after"], what="the message after")
    wait_for(lambda: queue_depth(consumer_queue.dead_letter_queue) == 2, what="two dead")


def test_a_passing_failure_is_retried_in_place(consumer, consumer_queue, settings):
    recorder = consumer().recorder
    recorder.fail_once.add(b"retry me")
    _publish(settings, b"retry me", b"next")
    wait_for(lambda: recorder.handled == [b"retry me", b"next"], what="both messages")
    assert recorder.attempts == [b"retry me", b"retry me", b"next"]
    assert queue_depth(consumer_queue.dead_letter_queue) == 0


def test_a_message_that_keeps_failing_ends_in_the_dead_letter_queue(
    consumer, consumer_queue, settings
):
    recorder = consumer(queue=dataclasses.replace(consumer_queue, delivery_limit=1)).recorder
    recorder.fail_always.add(b"bug")
    _publish(settings, b"bug", b"fine")
    wait_for(lambda: queue_depth(consumer_queue.dead_letter_queue) == 1, what="the DLQ")
    wait_for(lambda: recorder.handled == [b"fine"], what="the message after it")


def test_the_consumer_reconnects_after_rabbitmq_comes_back(consumer, consumer_queue, settings):
    with TcpProxy("127.0.0.1", 5672) as proxy:
        running = consumer(f"amqp://guest:guest@127.0.0.1:{proxy.port}/")
        proxy.cut()
        wait_for(lambda: not running.connected.is_set(), what="the outage")
        _publish(settings, b"sent during the outage")
        proxy.restore()
        wait_for(
            lambda: running.recorder.handled == [b"sent during the outage"], what="the message"
        )
