from collections.abc import Iterator

import pytest
from notifier.devtools.sms_standin import SmsStandIn
from notifier.devtools.smtp_sink import RecordingHandler, SmtpSink

pytest_plugins = ["ecomms_common.testing.pytest_plugin"]


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
