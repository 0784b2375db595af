"""The drills' count itself: a lost, a duplicated or a doubly recorded message is a problem."""

from collections import Counter

from ecomms_drills.ledger import Tally


def tally(**counts: Counter) -> Tally:
    fields = {
        "orders": [1, 2],
        "sms": Counter({1: 1, 2: 1}),
        "emails": Counter({1: 1, 2: 1}),
        "sms_failed": Counter(),
        "emails_failed": Counter(),
        "sms_attempts": Counter(),
        "email_attempts": Counter(),
        "unpublished": 0,
        "pending": 0,
    }
    return Tally(**{**fields, **counts})


def test_one_sms_and_one_email_per_order_is_no_problem():
    assert tally().problems() == []
    assert tally(emails=Counter({1: 1}), emails_failed=Counter({2: 1})).problems() == []


def test_a_lost_a_duplicated_and_a_sent_and_failed_message_are_problems():
    assert tally(sms=Counter({1: 1})).problems() == ["order 2: 0 SMS accepted, 0 failed"]
    assert tally(emails=Counter({1: 2, 2: 1})).problems() == ["order 1: 2 email accepted, 0 failed"]
    assert tally(sms_failed=Counter({2: 1})).problems() == ["order 2: 1 SMS accepted, 1 failed"]


def test_the_report_line_counts_orders_messages_and_failures():
    line = tally(emails=Counter({1: 1}), emails_failed=Counter({2: 1})).line("drill", "201 x2")
    assert line == "| drill | 201 x2 | 2 | 2 | 1 | 1 |"
