"""Counting a drill: the orders committed in the orders database against the SMS and emails the
providers accepted and the permanent failures the notifier recorded, per order."""

import time
from collections import Counter
from dataclasses import dataclass

from ecomms_drills.outside import order_number
from ecomms_drills.stack import DrillStack

QUIET_SECONDS = 2.0  # after everything looks done, how long to wait for a late duplicate


@dataclass(frozen=True)
class Tally:
    orders: list[int]  # committed during the drill
    sms: Counter  # order -> SMS the provider accepted
    emails: Counter
    sms_failed: Counter  # order -> SMS deliveries the notifier recorded as failed
    emails_failed: Counter
    sms_attempts: Counter  # order -> requests that reached the provider
    email_attempts: Counter
    unpublished: int  # outbox rows of the drill's orders not yet published
    pending: int  # deliveries of the drill's orders still pending

    def problems(self) -> list[str]:
        """Every committed order that did not end in exactly one SMS and one email, each either
        accepted by the provider or recorded as failed for good; and anything sent for another."""
        found = []
        for order in self.orders:
            for channel, accepted, failed in (
                ("SMS", self.sms, self.sms_failed),
                ("email", self.emails, self.emails_failed),
            ):
                if accepted[order] + failed[order] != 1:
                    found.append(
                        f"order {order}: {accepted[order]} {channel} accepted, "
                        f"{failed[order]} failed"
                    )
        return found

    def complete(self) -> bool:
        """Every event published, no delivery pending, each order's SMS and email sent or failed."""
        return (
            not self.unpublished
            and not self.pending
            and all(
                accepted[order] + failed[order] >= 1
                for order in self.orders
                for accepted, failed in (
                    (self.sms, self.sms_failed),
                    (self.emails, self.emails_failed),
                )
            )
        )

    def line(self, drill: str, client_saw: str) -> str:
        failures = sum(self.sms_failed.values()) + sum(self.emails_failed.values())
        return (
            f"| {drill} | {client_saw} | {len(self.orders)} | {sum(self.sms.values())} "
            f"| {sum(self.emails.values())} | {failures} |"
        )


class Ledger:
    """Opened before a drill: what the drill adds from then on."""

    def __init__(self, stack: DrillStack) -> None:
        self.stack = stack
        [(self.first_id,)] = stack.query("orders", "SELECT coalesce(max(id), 0) FROM orders_order")

    def committed(self) -> list[int]:
        rows = self.stack.query(
            "orders", "SELECT id FROM orders_order WHERE id > %s ORDER BY id", self.first_id
        )
        return [order for (order,) in rows]

    def unpublished(self) -> int:
        [(count,)] = self.stack.query(
            "orders", "SELECT count(*) FROM ecomms_outbox_outboxmessage WHERE published_at IS NULL"
        )
        return count

    def tally(self) -> Tally:
        orders = self.committed()
        mine = set(orders)
        outside = self.stack.outside
        statuses: dict[str, Counter] = {"sms": Counter(), "email": Counter()}
        failed: dict[str, Counter] = {"sms": Counter(), "email": Counter()}
        pending = 0
        for channel, subject, body, status in self.stack.query(
            "notifier", "SELECT channel, subject, body, status FROM notifier_delivery"
        ):
            order = order_number(subject if channel == "email" else body)
            if order not in mine:
                continue
            statuses[channel][order] += 1
            if status == "failed":
                failed[channel][order] += 1
            elif status in ("pending", "sending"):  # sending: claimed by an attempt in flight
                pending += 1

        def only_mine(counter: Counter) -> Counter:
            return Counter({order: n for order, n in counter.items() if order in mine})

        return Tally(
            orders=orders,
            sms=only_mine(outside.sms.accepted),
            emails=only_mine(outside.smtp.accepted),
            sms_failed=failed["sms"],
            emails_failed=failed["email"],
            sms_attempts=only_mine(outside.sms.attempts),
            email_attempts=only_mine(outside.smtp.attempts),
            unpublished=self.unpublished(),
            pending=pending,
        )

    def settle(self, *, timeout: float = 90.0) -> Tally:
        """Wait until the tally is complete, then a quiet moment for late duplicates; return the
        final tally (whose :meth:`Tally.problems` the drill checks)."""
        deadline = time.monotonic() + timeout
        while True:
            tally = self.tally()
            if tally.complete():
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not settled after {timeout:.0f} s: {tally.unpublished} events unpublished, "
                    f"{tally.pending} deliveries pending; " + "; ".join(tally.problems()[:10])
                )
            time.sleep(0.5)
        time.sleep(QUIET_SECONDS)
        return self.tally()

    def phantoms(self) -> list[str]:
        """SMS and emails a provider accepted for an order the orders database does not hold.

        An SMS naming no order (a phone verification code) is none."""
        known = {order for (order,) in self.stack.query("orders", "SELECT id FROM orders_order")}
        known.add(None)
        outside = self.stack.outside
        return [
            f"{name} for order {order}"
            for name, provider in (("SMS", outside.sms), ("email", outside.smtp))
            for order in provider.accepted
            if order not in known
        ]
