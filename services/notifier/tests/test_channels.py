import re
import socket
import threading
import time

import pytest
from django.core.mail import EmailMessage
from notifier.channels import PermanentDeliveryError, TransientDeliveryError
from notifier.channels.email import email_send, plain_message
from notifier.channels.sms import sms_connection_close, sms_send

from ecomms_standins.sms import Answer


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_sms_reaches_the_provider_with_the_key_sender_and_text(sms_standin):
    message_id = sms_send(to="+254712345678", message="Your order #1 has been placed.")
    [sms] = sms_standin.accepted
    assert (sms.to, sms.message) == ("+254712345678", "Your order #1 has been placed.")
    assert (sms.username, sms.api_key, sms.sender_id) == ("ecomms-test", "test-api-key", "ECOMMS")
    assert message_id.startswith("ATXid_")


@pytest.mark.parametrize("status_code", [403, 405, 406])
def test_a_recipient_refused_for_good_is_a_permanent_failure(sms_standin, status_code):
    sms_standin.reply = lambda sms: Answer(status_code=status_code)
    with pytest.raises(PermanentDeliveryError, match=f"\\({status_code}\\) for \\+254712345678"):
        sms_send(to="+254712345678", message="hello")


@pytest.mark.parametrize(
    "answer", [Answer(status_code=500), Answer(status_code=501), Answer(http_status=503)]
)
def test_provider_trouble_is_a_transient_failure(sms_standin, answer):
    sms_standin.reply = lambda sms: answer
    with pytest.raises(TransientDeliveryError):
        sms_send(to="+254712345678", message="hello")


def test_a_malformed_number_fails_for_good_without_a_request(sms_standin):
    with pytest.raises(PermanentDeliveryError, match="invalid number"):
        sms_send(to="0712 345 678", message="hello")
    assert sms_standin.requests == []


def test_an_unreachable_sms_provider_is_a_transient_failure(settings):
    settings.AFRICASTALKING_BASE_URL = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(TransientDeliveryError, match="unreachable"):
        sms_send(to="+254712345678", message="hello")


def test_an_email_reaches_the_smtp_server(smtp, settings):
    message_id = email_send(to="admin@ecomms.test", subject="New order #5", body="Items: 1")
    [mail] = smtp.messages
    assert mail["Subject"] == "New order #5"
    assert mail["To"] == "admin@ecomms.test"
    assert mail["Message-ID"] == message_id
    assert mail.get_content().strip() == "Items: 1"


def test_smtp_4xx_is_transient_and_5xx_is_permanent(smtp):
    smtp.reply = lambda envelope: "451 4.3.0 Try again later"
    with pytest.raises(TransientDeliveryError, match="451"):
        email_send(to="admin@ecomms.test", subject="s", body="b")
    smtp.reply = lambda envelope: "550 5.1.1 Mailbox unavailable"
    with pytest.raises(PermanentDeliveryError, match="550"):
        email_send(to="admin@ecomms.test", subject="s", body="b")
    assert smtp.messages == []


def test_an_unreachable_smtp_server_is_a_transient_failure(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = _closed_port()
    with pytest.raises(TransientDeliveryError, match="unreachable"):
        email_send(to="admin@ecomms.test", subject="s", body="b")


def _without_date(message: bytes) -> bytes:
    return re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\n", message)


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("New order #5", "Customer: Wanjiru Kamau\nTotal: 10.97 USD\nItems: 2"),
        (
            "Order #5 cancelled",
            "Customer: Wanjirũ Ōkubo \u2013 K.\nTotal: 10.97 USD\nCancelled by: x",
        ),
        ("New order #6", "ends with a line break\r\nand a bare\rCR\n"),
        ("New order #7", "From the start.\n.a dot first\n" + "x" * 998),
    ],
)
def test_an_email_is_written_byte_for_byte_as_django_writes_it(settings, subject, body):
    settings.DEFAULT_FROM_EMAIL = "Ecomms Shop <noreply@ecomms.local>"
    message_id = "<177.2.3@ecomms.local>"
    ours = plain_message(to="admin@ecomms.test", subject=subject, body=body, message_id=message_id)
    django = EmailMessage(
        subject,
        body,
        settings.DEFAULT_FROM_EMAIL,
        ["admin@ecomms.test"],
        headers={"Message-ID": message_id},
    )
    assert ours is not None
    assert _without_date(ours) == _without_date(django.message().as_bytes(linesep="\r\n"))


@pytest.mark.parametrize(
    ("subject", "body"),
    [("Commande n° 5", "Items: 1"), ("New order #5", "x" * 999), ("Two\nlines", "Items: 1")],
)
def test_what_django_would_encode_is_left_to_django(subject, body):
    assert plain_message(to="a@b.test", subject=subject, body=body, message_id="<1@x>") is None


def test_an_email_with_an_encoded_subject_still_reaches_the_smtp_server(smtp):
    email_send(to="admin@ecomms.test", subject="Commande n° 5", body="Articles : 1")
    [mail] = smtp.messages
    assert mail["Subject"] == "Commande n° 5"
    assert mail.get_content().strip() == "Articles : 1"


def test_an_email_with_a_name_in_another_script_reaches_the_smtp_server_intact(smtp):
    email_send(to="admin@ecomms.test", subject="New order #8", body="Customer: Wanjirũ Ōkubo")
    [mail] = smtp.messages
    assert mail.get_content().strip() == "Customer: Wanjirũ Ōkubo"


def test_an_sms_connection_the_provider_closed_while_idle_is_opened_again(settings):
    # A provider that answers one request per connection and then closes it while idle (its
    # keep-alive timeout), without saying so in the reply.
    reply = (
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    )
    body = (
        b'{"SMSMessageData": {"Message": "Sent to 1/1", "Recipients": [{"statusCode": 101, '
        b'"number": "+254712345678", "status": "Success", "messageId": "ATXid_1"}]}}'
    )
    server = socket.create_server(("127.0.0.1", 0))
    connections = []

    def serve() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            connections.append(conn)
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            head, _, rest = request.partition(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", head, re.IGNORECASE).group(1))
            while len(rest) < length:
                rest += conn.recv(65536)
            conn.sendall(reply % (len(body), body))
            time.sleep(0.1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    settings.AFRICASTALKING_BASE_URL = f"http://127.0.0.1:{server.getsockname()[1]}"
    try:
        assert sms_send(to="+254712345678", message="first") == "ATXid_1"
        time.sleep(0.3)  # the provider has closed the kept-open connection by now
        assert sms_send(to="+254712345678", message="second") == "ATXid_1"
        thread.join(5)
        assert len(connections) == 2
    finally:
        sms_connection_close()
        server.close()
