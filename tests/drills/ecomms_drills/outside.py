"""The notifier's outside world in a drill: the SMS stand-in and the SMTP sink that ``make up``
runs (``ecomms_standins.sms`` and ``.smtp``), started in the drill's own process so that a drill
can switch how they answer while the stack runs.

Every answer is one a real provider gives: Africa's Talking's HTTP 500 or a recipient status 403
(InvalidPhoneNumber), an SMTP 451 or 550, or no answer yet (a request held until the drill lets it
go, then refused: the provider never accepted it).
"""

import enum
import re
import threading
from collections import Counter
from pathlib import Path

from ecomms_standins.sms import Answer, DropRequest, ReceivedSms, SmsStandIn
from ecomms_standins.smtp import ACCEPTED, RecordingHandler, SmtpSink

ORDER_NUMBER = re.compile(r"order #(\d+)\b")
HOLD_LIMIT_SECONDS = 60.0  # a held request is let go after this even if the drill forgets


class Behaviour(enum.Enum):
    ACCEPT = "accept"
    FAIL_FIRST_ATTEMPT = "fail the first attempt of each message"
    FAIL_FOR_GOOD = "fail for good"
    HOLD = "hold every request, then refuse it"


def order_number(text: str) -> int | None:
    """The order id an SMS text or an email subject names ("... order #12 ...")."""
    match = ORDER_NUMBER.search(text)
    return int(match.group(1)) if match else None


class Provider:
    """One channel's provider: how it answers now, and what it was asked per order."""

    def __init__(self) -> None:
        self.behaviour = Behaviour.ACCEPT
        self.attempts: Counter[int | None] = Counter()  # every request, per order
        self.accepted: Counter[int | None] = Counter()  # requests answered "accepted", per order
        self.held = 0
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._accept_held = False

    def hold(self) -> None:
        """Hold every request from now on (``held`` counts them) until :meth:`release`."""
        with self._lock:
            self.held = 0
        self._released.clear()
        self.behaviour = Behaviour.HOLD

    def release(self, behaviour: Behaviour = Behaviour.ACCEPT, *, accept_held=False) -> None:
        """Answer the held requests (refused, or accepted with ``accept_held``) and new ones
        with ``behaviour``."""
        self._accept_held = accept_held
        self.behaviour = behaviour
        self._released.set()

    def _decide(self, order: int | None, began: Behaviour | None = None) -> Behaviour:
        """Count the attempt and return how to answer it (waiting first when holding): as the
        provider behaved when the request ``began``, or now."""
        with self._lock:
            self.attempts[order] += 1
            behaviour = began or self.behaviour
            first = self.attempts[order] == 1
            if behaviour is Behaviour.HOLD:
                self.held += 1
        if behaviour is Behaviour.HOLD:
            self._released.wait(HOLD_LIMIT_SECONDS)
            if self._accept_held:
                return Behaviour.ACCEPT
        if behaviour is Behaviour.FAIL_FIRST_ATTEMPT and not first:
            return Behaviour.ACCEPT
        return behaviour

    def _accepted(self, order: int | None) -> None:
        with self._lock:
            self.accepted[order] += 1


class SmsProvider(Provider):
    """Africa's Talking: HTTP 500 when failing transiently, recipient status 403 for good."""

    def __init__(self, port: int, record: Path) -> None:
        super().__init__()
        self.server = SmsStandIn("127.0.0.1", port, reply=self._reply, record=record)

    def _reply(self, sms: ReceivedSms) -> Answer:
        order = order_number(sms.message)
        match self._decide(order):
            case Behaviour.ACCEPT:
                self._accepted(order)
                return Answer()
            case Behaviour.FAIL_FIRST_ATTEMPT:
                return Answer(http_status=500)
            case Behaviour.FAIL_FOR_GOOD:
                return Answer(status_code=403)
            case Behaviour.HOLD:
                raise DropRequest


class TransactionHandler(RecordingHandler):
    """Notes how the provider behaved when each mail transaction began (its RCPT command)."""

    def __init__(self, provider: "SmtpProvider", maildir: Path) -> None:
        super().__init__(maildir=maildir, reply=provider._reply)
        self.provider = provider

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        envelope.rcpt_tos.append(address)
        envelope.began = self.provider.behaviour
        return "250 OK"


class SmtpProvider(Provider):
    """The admin's mail server: 451 when failing transiently, 550 for good.

    A message is answered as the server behaved when its transaction began, not when its content
    has been read: while a held message waits, the server reads nothing else, so a message whose
    content the notifier wrote before it was killed is read only after the drill lets the held
    ones go; it is one of them, refused with them."""

    def __init__(self, port: int, maildir: Path) -> None:
        super().__init__()
        self.server = SmtpSink(TransactionHandler(self, maildir), port=port)

    def _reply(self, envelope) -> str:
        content = envelope.content
        text = content.decode(errors="replace") if isinstance(content, bytes) else content
        order = order_number(text)
        match self._decide(order, envelope.began):
            case Behaviour.ACCEPT:
                self._accepted(order)
                return ACCEPTED
            case Behaviour.FAIL_FIRST_ATTEMPT | Behaviour.HOLD:
                return "451 4.3.0 Temporary failure, try again later"
            case Behaviour.FAIL_FOR_GOOD:
                return "550 5.1.1 Mailbox unavailable"


class OutsideWorld:
    """The SMS and SMTP providers of one drill stack."""

    def __init__(self, *, sms_port: int, smtp_port: int, workdir: Path) -> None:
        self.sms = SmsProvider(sms_port, workdir / "sms.jsonl")
        self.smtp = SmtpProvider(smtp_port, workdir / "mail")

    def start(self) -> "OutsideWorld":
        self.sms.server.start()
        self.smtp.server.start()
        return self

    def stop(self) -> None:
        for provider in (self.sms, self.smtp):
            provider.release()
        self.sms.server.stop()
        self.smtp.server.stop()

    def hold(self) -> None:
        for provider in (self.sms, self.smtp):
            provider.hold()

    def held(self) -> int:
        """Requests held since :meth:`hold`, once both providers hold at least one; else 0."""
        return self.sms.held + self.smtp.held if self.sms.held and self.smtp.held else 0

    def behave(self, behaviour: Behaviour, *, accept_held=False) -> None:
        for provider in (self.sms, self.smtp):
            provider.release(behaviour, accept_held=accept_held)
