"""The notifier's own queue: declared and bound by the notifier, never by a producer.

``manage.py consume`` declares it at start (idempotently, with every argument explicit), before
it consumes; so do the dead-letter commands. An event published while no notifier has ever
started has no queue to go to: the relay gets it back as unroutable and parks it after
``OUTBOX_UNROUTABLE_MAX_ATTEMPTS`` (services/notifier/README.md, "Topology").
"""

from django.conf import settings

from ecomms_common.amqp import ConsumerQueue, Topology, event_topology


def notifier_queue() -> ConsumerQueue:
    """Return the notifier's queue as configured."""
    return ConsumerQueue(
        name=settings.NOTIFIER_QUEUE,
        dead_letter_queue=settings.NOTIFIER_DEAD_LETTER_QUEUE,
        binding_keys=list(settings.NOTIFIER_BINDING_KEYS),
        delivery_limit=settings.NOTIFIER_DELIVERY_LIMIT,
    )


def notifier_topology() -> Topology:
    """Return the exchanges and the notifier's queue, as ``consume`` declares them."""
    return event_topology([notifier_queue()])
