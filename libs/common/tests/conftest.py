from collections.abc import Iterator

import pytest

from ecomms_common import amqp
from ecomms_common.testing.broker import broker_channel, delete_queues, unique_queue

pytest_plugins = ["ecomms_common.testing.pytest_plugin"]


@pytest.fixture
def consumer_queue(event_topology) -> Iterator[amqp.ConsumerQueue]:
    """A consumer's queue bound to ``order.*.v1``, not declared yet; deleted afterwards."""
    queue = unique_queue("consumer", binding_keys=["order.*.v1"])
    yield queue
    delete_queues(queue.name, queue.dead_letter_queue)


@pytest.fixture
def bound_queue(consumer_queue) -> amqp.ConsumerQueue:
    """``consumer_queue`` declared and bound, as its consumer does at start (the relay declares
    no queue)."""
    with broker_channel() as channel:
        amqp.declare_topology(channel, amqp.event_topology([consumer_queue]))
    return consumer_queue
