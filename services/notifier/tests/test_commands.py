"""The notifier's processes as `make up` and Kubernetes run them: signals, probes, crashes."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pika
import pytest
import requests
from django.core.management import call_command
from django.db import connection
from notifier.channels.email import email_send
from notifier.channels.sms import sms_send
from notifier.models import Delivery, InboxEvent

from ecomms_common.outbox.relay import OutboxRelay
from ecomms_standins.sms import Answer, DropRequest
from ecomms_standins.tcpproxy import TcpProxy
from tests.helpers import SERVICE_DIR, command_env, place_order, settled, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("notifier_queue", "fast_retries"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_until_sigterm(command: Callable[[], None], probe: Callable[[], None]) -> None:
    """Run ``command`` (which stops on SIGTERM) here while ``probe`` runs beside it, then stop."""
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    failures: list[BaseException] = []

    def probe_then_stop() -> None:
        try:
            probe()
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=probe_then_stop)
    try:
        thread.start()
        command()
        thread.join(30)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if failures:
        raise failures[0]


def _relay_once() -> None:
    relay = OutboxRelay()
    try:
        relay.publish_batch()
    finally:
        relay.disconnect()


def test_consume_serves_the_probes_and_stops_cleanly_on_sigterm(sms_standin, smtp, settings):
    settings.OPS_HOST, settings.OPS_PORT = "127.0.0.1", _free_port()
    base = f"http://127.0.0.1:{settings.OPS_PORT}"
    place_order()
    _relay_once()

    def probe() -> None:
        wait_for(settled(1), what="the order's deliveries")
        assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
        ready = requests.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
        metrics = requests.get(f"{base}/metrics", timeout=5).text
        assert "notifier_events_consumed_total" in metrics
        assert 'notifier_deliveries_total{channel="email",status="sent"}' in metrics

    _run_until_sigterm(lambda: call_command("consume"), probe)
    assert len(sms_standin.accepted) == 1
    assert len(smtp.messages) == 1
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=2)


@contextlib.contextmanager
def _standin(script: str, *arguments: str) -> Iterator[str]:
    """Run a stand-in's console script on a free port; yield the line it announces itself with."""
    command = [str(Path(sys.executable).with_name(script)), "--port", "0", *arguments]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        yield process.stdout.readline()
    finally:
        process.terminate()
        assert process.wait(10) == 0, f"{script} did not stop cleanly on SIGTERM"
        process.stdout.close()


def test_an_sms_reaches_the_sms_standin_process(settings):
    settings.AFRICASTALKING_API_KEY = "key"
    with _standin("ecomms-sms-standin") as announcement:
        settings.AFRICASTALKING_BASE_URL = re.search(r"http://[\d.:]+", announcement).group()
        assert sms_send(to="+254712345678", message="hi").startswith("ATXid_")


def test_the_sms_standin_process_records_every_accepted_message_as_a_json_line(settings, tmp_path):
    record = tmp_path / "sms" / "received.jsonl"
    settings.AFRICASTALKING_API_KEY = "key"
    with _standin("ecomms-sms-standin", "--record", str(record)) as announcement:
        settings.AFRICASTALKING_BASE_URL = re.search(r"http://[\d.:]+", announcement).group()
        sms_send(to="+254712345678", message="Your order #1 has been placed.")
        sms_send(to="+254712345679", message="Your order #2 has been placed.")
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(line["to"], line["message"]) for line in lines] == [
        ("+254712345678", "Your order #1 has been placed."),
        ("+254712345679", "Your order #2 has been placed."),
    ]
    assert all(line["received_at"] for line in lines)


def test_the_smtp_sink_process_keeps_every_mail(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with _standin("ecomms-smtp-sink", "--maildir", str(tmp_path)) as announcement:
        port = re.search(r":(\d+)", announcement).group(1)
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", int(port)
        email_send(to="admin@ecomms.test", subject="New order #9", body="Items: 3")
    [kept] = tmp_path.glob("*.eml")
    assert "Subject: New order #9" in kept.read_text()


def test_the_smtp_sink_process_records_every_mail_as_a_json_line(settings, tmp_path):
    record = tmp_path / "mail" / "received.jsonl"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with _standin("ecomms-smtp-sink", "--record", str(record)) as announcement:
        port = re.search(r":(\d+)", announcement).group(1)
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", int(port)
        sent = [
            email_send(to="admin@ecomms.test", subject=f"New order #{order}", body="x")
            for order in (1, 2)
        ]
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(line["rcpt_tos"], line["subject"], line["message_id"]) for line in lines] == [
        (["admin@ecomms.test"], "New order #1", sent[0]),
        (["admin@ecomms.test"], "New order #2", sent[1]),
    ]
    assert all(line["mail_from"] and line["received_at"] for line in lines)


def test_a_consumer_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    sms_standin, smtp, settings
):
    # The first three SMS are accepted; later ones are held unanswered (the provider has not
    # accepted them) until the consumer is killed, then dropped.
    lock, accepted_first, held = threading.Lock(), [], []
    release = threading.Event()

    def reply(sms) -> Answer:
        with lock:
            if len(accepted_first) < 3:
                accepted_first.append(sms)
                return Answer()
            held.append(sms)
        release.wait(60)
        raise DropRequest

    sms_standin.reply = reply
    orders = [place_order() for _ in range(10)]
    _relay_once()
    # The two SMS in flight at the kill keep their claims until the lease runs out.
    env = command_env(
        NOTIFIER_DELIVERY_WORKERS="2", NOTIFIER_PREFETCH="4", NOTIFIER_DELIVERY_LEASE_SECONDS="2"
    )
    consumer = subprocess.Popen(
        [sys.executable, "manage.py", "consume"],
        cwd=SERVICE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Both delivery threads are waiting on the provider: the batch is half done.
        wait_for(lambda: len(held) == 2, what="two SMS in flight")
        consumer.send_signal(signal.SIGKILL)
        consumer.wait(10)
    finally:
        consumer.kill()
    # The two SMS in flight, and any claimed with them in a batch but not attempted yet.
    assert Delivery.objects.filter(status=Delivery.Status.SENDING).count() >= 2
    assert Delivery.objects.exclude(status=Delivery.Status.SENT).count() > 2  # work left over
    sms_standin.reply = lambda sms: Answer()
    release.set()

    restarted = subprocess.Popen(
        [sys.executable, "manage.py", "consume"],
        cwd=SERVICE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(settled(10), timeout=60, what="every order's deliveries")
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(30) == 0
    finally:
        restarted.kill()
    assert "notifier worker stopped" in restarted.stderr.read()

    phones = sorted(order.data["customer"]["phone"] for order in orders)
    assert sorted(sms.to for sms in sms_standin.accepted) == phones
    subjects = sorted(mail["Subject"] for mail in smtp.messages)
    assert subjects == sorted(f"New order #{order.data['order_id']}" for order in orders)


def test_a_relay_killed_between_publish_and_mark_sent_still_sends_one_sms(
    sms_standin, smtp, settings
):
    from ecomms_common.outbox.models import OutboxMessage
    from ecomms_common.testing.broker import queue_depth
    from ecomms_common.testing.running import relay_killed_after_publish
    from tests.helpers import running_notifier

    envelope = place_order()
    relay_killed_after_publish(
        [sys.executable, "manage.py", "relay_outbox"],
        queue=settings.NOTIFIER_QUEUE,
        env=command_env(),
        cwd=SERVICE_DIR,
    )
    assert OutboxMessage.objects.get().published_at is None

    _relay_once()  # publishes the same event again
    assert queue_depth(settings.NOTIFIER_QUEUE) == 2
    with running_notifier():
        wait_for(lambda: queue_depth(settings.NOTIFIER_QUEUE) == 0, what="both copies consumed")
        wait_for(settled(1), what="the deliveries")
    assert [sms.to for sms in sms_standin.requests] == [envelope.data["customer"]["phone"]]
    assert len(smtp.messages) == 1


@contextlib.contextmanager
def _consume_through_a_database_proxy(**env: str) -> Iterator[TcpProxy]:
    """Run ``consume`` with its PostgreSQL connections through a proxy the test can cut."""
    db = connection.settings_dict
    with TcpProxy(db["HOST"], int(db["PORT"])) as proxy:
        url = f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}"
        consumer = subprocess.Popen(
            [sys.executable, "manage.py", "consume"],
            cwd=SERVICE_DIR,
            env=command_env(DATABASE_URL=url, **env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield proxy
        finally:
            proxy.restore()
            consumer.send_signal(signal.SIGTERM)
            consumer.wait(30)


def test_a_database_outage_holds_messages_until_it_ends(sms_standin, smtp, settings):
    from ecomms_common.testing.broker import broker_channel, queue_depth

    with _consume_through_a_database_proxy(DATABASE_CONN_MAX_AGE="0") as proxy:

        def consuming() -> bool:
            with broker_channel() as channel:
                try:
                    declared = channel.queue_declare(settings.NOTIFIER_QUEUE, passive=True)
                except pika.exceptions.ChannelClosedByBroker:  # not declared yet
                    return False
                return declared.method.consumer_count == 1

        wait_for(consuming, what="the consumer")
        proxy.cut()
        envelope = place_order()
        _relay_once()
        wait_for(lambda: queue_depth(settings.NOTIFIER_QUEUE) == 0, what="the delivery")
        time.sleep(2)  # the consumer holds the message and keeps trying
        assert not InboxEvent.objects.exists()
        proxy.restore()
        wait_for(settled(1), what="the deliveries after the outage")
    assert [sms.to for sms in sms_standin.requests] == [envelope.data["customer"]["phone"]]
    assert len(smtp.messages) == 1
    assert queue_depth(settings.NOTIFIER_DEAD_LETTER_QUEUE) == 0


def test_a_database_outage_while_the_providers_accept_sends_each_message_once(
    sms_standin, smtp, settings
):
    # Both providers hold their answer until the database connection has been cut and restored,
    # then accept: the outcomes must wait for the database, not be sent again.
    release = threading.Event()
    held: list[str] = []

    def hold_sms(sms) -> Answer:
        held.append("sms")
        release.wait(30)
        return Answer()

    def hold_email(envelope) -> str:
        held.append("email")
        release.wait(30)
        return "250 OK"

    sms_standin.reply, smtp.reply = hold_sms, hold_email
    envelope = place_order()
    _relay_once()
    try:
        # One delivery per claim, so that the SMS and the email are held at the same time.
        with _consume_through_a_database_proxy(NOTIFIER_DELIVERY_BATCH="1") as proxy:
            wait_for(lambda: sorted(held) == ["email", "sms"], what="an SMS and an email held")
            proxy.cut()  # every connection of the consumer drops, new ones are refused
            time.sleep(0.5)
            proxy.restore()
            release.set()
            wait_for(settled(1), what="the deliveries after the outage")
    finally:
        release.set()

    assert [sms.to for sms in sms_standin.requests] == [envelope.data["customer"]["phone"]]
    assert len(smtp.messages) == 1
    assert sorted(Delivery.objects.values_list("status", "attempts")) == [("sent", 1)] * 2
