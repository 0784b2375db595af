from collections.abc import Iterator

import pytest
from notifier.topology import notifier_topology

from ecomms_common.amqp import declare_topology
from ecomms_common.testing.broker import broker_channel, delete_queues, unique_queue
from ecomms_standins.sms import SmsStandIn
from ecomms_standins.smtp import RecordingHandler, SmtpSink

pytest_plugins = ["ecomms_common.testing.pytest_plugin"]


@pytest.fixture
def notifier_queue_names(event_topology, settings) -> Iterator[dict[str, str]]:
    """Point the notifier's queue settings at names unique to this test (the exchanges are the
    test's too); nothing is declared yet. The queues are deleted afterwards."""
    queue = unique_queue("notifier", binding_keys=settings.NOTIFIER_BINDING_KEYS)
    names = {"NOTIFIER_QUEUE": queue.name, "NOTIFIER_DEAD_LETTER_QUEUE": queue.dead_letter_queue}
    for name, value in names.items():
        setattr(settings, name, value)
    yield names
    delete_queues(queue.name, queue.dead_letter_queue)


@pytest.fixture
def notifier_queue(notifier_queue_names) -> dict[str, str]:
    """``notifier_queue_names``, declared as ``consume`` declares them at start: the state of a
    system where the notifier has started once, so that events published before a test's
    consumer runs wait in its queue."""
    with broker_channel() as channel:
        declare_topology(channel, notifier_topology())
    return notifier_queue_names


@pytest.fixture
def sms_standin(settings) -> Iterator[SmsStandIn]:
    """A real HTTP server speaking Africa's Talking's SMS API."""
    standin = SmsStandIn().start()
    settings.AFRICASTALKING_USERNAME = "ecomms-test"
    settings.AFRICASTALKING_API_KEY = "test-api-key"
    settings.AFRICASTALKING_SENDER_ID = "ECOMMS"
    settings.AFRICASTALKING_BASE_URL = standin.url
    yield standin
    standin.stop()


@pytest.fixture
def smtp(settings) -> Iterator[RecordingHandler]:
    """A real SMTP server (aiosmtpd); set ``smtp.reply`` to answer otherwise than 250."""
    handler = RecordingHandler()
    sink = SmtpSink(handler).start()
    # pytest-django swaps in the in-memory backend; these tests speak SMTP for real.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_USE_TLS = False
    settings.ADMIN_EMAIL = "admin@ecomms.test"
    yield handler
    sink.stop()


@pytest.fixture
def fast_retries(settings) -> None:
    settings.NOTIFIER_RETRY_BASE_SECONDS = 0.2
    settings.NOTIFIER_RETRY_POLL_SECONDS = 0.1
