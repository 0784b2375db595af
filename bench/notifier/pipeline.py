"""The notifier's pipeline under measure: relay, consume processes and the SMS and SMTP stand-ins,
each a process of its own, and the orders committed through the outbox (bench/notifier/run.py).

Imported once Django is set up with the notifier's test settings: it reads their models.
"""

import os
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from notifier.models import Delivery, InboxEvent
from pika.exceptions import ChannelClosedByBroker
from tests.helpers import order_placed

from bench import report
from ecomms_common.outbox.models import OutboxMessage
from ecomms_common.outbox.services import outbox_enqueue
from ecomms_common.testing.broker import (
    broker_channel,
    delete_queues,
    delete_topology,
    unique_queue,
    unique_topology_names,
)

SERVICE = Path(__file__).resolve().parents[2] / "services" / "notifier"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Pipeline:
    """The run's processes, and every order committed with the time it was committed."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        names = unique_topology_names()
        self.queue = unique_queue("notifier", binding_keys=settings.NOTIFIER_BINDING_KEYS)
        # The consumers declare the notifier's queue at start (under these names); the relay none.
        names.update(
            NOTIFIER_QUEUE=self.queue.name, NOTIFIER_DEAD_LETTER_QUEUE=self.queue.dead_letter_queue
        )
        for name, value in names.items():
            setattr(settings, name, value)
        self.sms_record, self.mail_record = workdir / "sms.jsonl", workdir / "mail.jsonl"
        self.env = {
            **os.environ,
            **names,
            "HOST": "127.0.0.1",
            "PORT": "0",
            "PYTHONPATH": str(SERVICE),
        }
        self.processes: list[subprocess.Popen] = []
        self.consumers: list[subprocess.Popen] = []
        self.committed: dict[str, float] = {}
        # Each order's SMS goes to a phone of its own; its email's subject names the order.
        self.orders: dict[str, str] = {}
        self.latencies_of: dict[str, float] = {}

    # processes

    def start(self, command: str, *arguments: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "manage.py", command, *arguments],
            cwd=SERVICE,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    def start_standin(self, command: str, record: Path) -> tuple[subprocess.Popen, str]:
        """Start a stand-in in a process of its own on a free port; return it and its port."""
        said = self.workdir / f"{command}.out"
        script = Path(sys.executable).with_name(command)  # a console script of libs/standins
        with said.open("w") as output:
            process = subprocess.Popen(
                [str(script), "--port", "0", "--record", str(record)],
                env=self.env,
                stdout=output,
                stderr=subprocess.DEVNULL,
            )
        self.processes.append(process)
        deadline = time.monotonic() + 60
        while not (found := re.search(r":(\d+)", said.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{command} did not start")
            time.sleep(0.1)
        return process, found.group(1)

    def start_all(self, consumers: int) -> None:
        """Start the stand-ins, the relay and ``consumers`` consume processes."""
        self.sms, sms_port = self.start_standin("ecomms-sms-standin", self.sms_record)
        self.mail, mail_port = self.start_standin("ecomms-smtp-sink", self.mail_record)
        self.env.update(
            AFRICASTALKING_BASE_URL=f"http://127.0.0.1:{sms_port}",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=mail_port,
        )
        self.relay = self.start("relay_outbox")
        self.scale_to(consumers)  # the consumers declare the queue, then consume

    def consumers_attached(self) -> int:
        with broker_channel() as channel:
            return channel.queue_declare(self.queue.name, passive=True).method.consumer_count

    def scale_to(self, count: int) -> None:
        """Start consume processes until ``count`` consume from the queue."""
        while len(self.consumers) < count:
            self.consumers.append(self.start("consume"))
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.consumers_attached() >= count:
                    return
            except ChannelClosedByBroker:  # not declared yet
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{count} consumers did not attach within 60 s")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop every process, delete the run's queues and exchanges."""
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        delete_queues(self.queue.name, self.queue.dead_letter_queue)
        delete_topology()
        connection.close()

    # orders and deliveries

    def place(self, count: int, rate: float | None) -> list[str]:
        ids = []
        start = time.monotonic()
        for index in range(count):
            if rate:
                time.sleep(max(0.0, start + index / rate - time.monotonic()))
            # Numbered orders, each with a phone of its own: random ones repeat among 20,000.
            number = len(self.committed) + 1
            phone = f"+2547{10**7 + number}"
            envelope = order_placed(order_id=number, phone=phone)
            with transaction.atomic():
                outbox_enqueue(envelope=envelope)
            self.committed[envelope.event_id] = time.time()
            self.orders[phone] = str(number)
            ids.append(envelope.event_id)
        return ids

    def finished(self, ids: list[str], timeout: float = 120.0) -> dict[str, float]:
        """Wait until every event's two deliveries are sent; return commit-to-done latencies."""
        deadline = time.monotonic() + timeout
        # Every earlier event is done when a phase starts, so this phase is done when every
        # committed event is: a count that binds no ids, cheap to poll under load.
        every_sent = Delivery.objects.filter(status=Delivery.Status.SENT)
        sent = every_sent.filter(event_id__in=ids)
        while time.monotonic() < deadline:
            if every_sent.count() == 2 * len(self.committed):
                last: dict[str, float] = {}
                for event_id, sent_at in sent.values_list("event_id", "sent_at"):
                    key = str(event_id)
                    last[key] = max(last.get(key, 0.0), sent_at.timestamp())
                result = {key: last[key] - self.committed[key] for key in ids}
                self.latencies_of.update(result)
                return result
            time.sleep(0.2)
        statuses = Counter(
            Delivery.objects.filter(event_id__in=ids).values_list("channel", "status")
        )
        raise SystemExit(
            f"not every event was delivered within {timeout}s: of {len(ids)} events, "
            f"{len(ids) - InboxEvent.objects.filter(event_id__in=ids).count()} not taken in; "
            f"deliveries by channel and status: {dict(statuses)}"
        )

    def stage_medians(self, ids: list[str]) -> dict[str, float]:
        """Median ms spent committed-but-unpublished, in RabbitMQ, and sending."""
        published = dict(
            OutboxMessage.objects.filter(event_id__in=ids).values_list("event_id", "published_at")
        )
        received = dict(
            InboxEvent.objects.filter(event_id__in=ids).values_list("event_id", "received_at")
        )
        relay, broker, send = [], [], []
        for key in ids:
            event_id = uuid.UUID(key)
            relay.append(published[event_id].timestamp() - self.committed[key])
            broker.append((received[event_id] - published[event_id]).total_seconds())
            send.append(
                self.committed[key] + self.latencies_of[key] - received[event_id].timestamp()
            )
        return {
            "relay": statistics.median(relay) * 1000,
            "broker": statistics.median(broker) * 1000,
            "send": statistics.median(send) * 1000,
        }

    # phases

    def phase(self, name: str, rate: float | None, count: int) -> tuple[dict, list[float]]:
        """Commit ``count`` orders at ``rate`` (None: as fast as one writer); return the phase's
        row and its latencies (ms)."""
        began = time.time()
        ids = self.place(count, rate)
        placed_for = time.time() - began
        last_commit = max(self.committed[key] for key in ids)
        latencies = self.finished(ids)
        ended = max(self.committed[key] + latencies[key] for key in ids)
        row = {
            "phase": name,
            "consumer_cpu": None,
            "orders": count,
            "offered": count / placed_for,
            "delivered": count / (ended - began),
            "p50": statistics.median(latencies.values()) * 1000,
            "p95": percentile(list(latencies.values()), 0.95) * 1000,
            "max": max(latencies.values()) * 1000,
            "after_last_commit": ended - last_commit,
            **self.stage_medians(ids),
        }
        return row, [latencies[key] * 1000 for key in ids]

    def database_backends(self) -> list[int]:
        """Return the PostgreSQL backends serving the run's database, but this process's."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return [pid for (pid,) in cursor.fetchall()]

    def cpu_by_part(self) -> dict[str, dict[int, float]]:
        """Return the CPU seconds used so far by each process of each part of the pipeline."""
        parts = {
            "consumer": [process.pid for process in self.consumers],
            "PostgreSQL": self.database_backends(),
            "stand-ins": [self.sms.pid, self.mail.pid],
        }
        return {
            part: {pid: report.cpu_seconds(pid) for pid in pids} for part, pids in parts.items()
        }

    def backlog(self, count: int) -> dict:
        """Pause the consumers, commit and relay ``count`` orders, resume them: drain rate, and
        the CPU the consumers, their PostgreSQL backends and the stand-ins spent per event."""
        for process in self.consumers:
            process.send_signal(signal.SIGSTOP)
        try:
            ids = self.place(count, None)
            deadline = time.monotonic() + 120
            while OutboxMessage.objects.filter(event_id__in=ids, published_at=None).exists():
                if time.monotonic() > deadline:
                    raise SystemExit("the relay did not publish the backlog within 120 s")
                time.sleep(0.1)
            cpu_before = self.cpu_by_part()
        finally:
            resumed = time.time()
            for process in self.consumers:
                process.send_signal(signal.SIGCONT)
        latencies = self.finished(ids)
        ended = max(self.committed[key] + latencies[key] for key in ids)
        cpu_after = self.cpu_by_part()
        drained = [self.committed[key] + latencies[key] - resumed for key in ids]
        # A backend that appeared during the drain started at 0; one that left is not counted.
        cpu_ms = {
            part: sum(seconds - cpu_before[part].get(pid, 0.0) for pid, seconds in used.items())
            / count
            * 1000
            for part, used in cpu_after.items()
        }
        return {
            "phase": f"backlog {len(self.consumers)}",
            "consumers": len(self.consumers),
            "consumer_cpu": cpu_ms["consumer"],
            "cpu_ms": cpu_ms,
            "orders": count,
            "offered": float("nan"),
            "delivered": count / (ended - resumed),
            "p50": statistics.median(drained) * 1000,
            "p95": percentile(drained, 0.95) * 1000,
            "max": max(drained) * 1000,
            "relay": float("nan"),
            "broker": float("nan"),
            "send": float("nan"),
        }

    # what it used

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds each part used over the whole run."""
        return {
            "relay": report.cpu_seconds(self.relay.pid),
            "consumer": sum(report.cpu_seconds(process.pid) for process in self.consumers),
            "SMS stand-in": report.cpu_seconds(self.sms.pid),
            "SMTP sink": report.cpu_seconds(self.mail.pid),
        }

    def memory(self) -> dict[str, float]:
        memory = {"relay (manage.py relay_outbox)": report.rss_mb(self.relay.pid)}
        for number, process in enumerate(self.consumers, 1):
            memory[f"consumer {number} (manage.py consume)"] = report.rss_mb(process.pid)
        return memory
