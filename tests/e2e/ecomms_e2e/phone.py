"""A customer's phone verified the way a person does it: the code read from the SMS it came in.

A number becomes the customer's phone, the one order SMS go to, only by confirming the one-time
code orders has the notifier text to it (``POST /customers/me/phone/verification/``, then
``.../confirm/``). Here the code is read from what the SMS stand-in received
(``ecomms-sms-standin --record FILE``).
"""

import re
from pathlib import Path
from typing import Any

from ecomms_e2e.client import Api, read_sms, wait_for

CODE_RE = re.compile(r"verification code is ([0-9]{6})\b")


def texted_codes(record: Path, phone: str) -> list[str]:
    """Every verification code the SMS stand-in accepted for ``phone``, oldest first."""
    return [
        match.group(1)
        for sms in read_sms(record)
        if sms["to"] == phone and (match := CODE_RE.search(sms["message"]))
    ]


def verify_phone(api: Api, record: Path, phone: str, *, timeout: float = 30) -> dict[str, Any]:
    """Have a code texted to ``phone``, read it from the SMS, confirm it; return the customer.

    A customer whose phone is ``phone`` and verified already is returned as is (no code sent):
    the number's codes are rate limited, and a local stack is reused across runs.
    """
    me = api.get("/customers/me/")
    me.raise_for_status()
    if me.json()["phone"] == phone and me.json()["phone_verified"]:
        return me.json()
    before = len(texted_codes(record, phone))
    started = api.post("/customers/me/phone/verification/", json={"phone": phone})
    if started.status_code != 202:
        raise AssertionError(f"no code sent: {started.status_code} {started.text[:300]}")
    e164 = started.json()["phone"]
    codes = wait_for(
        lambda: texted_codes(record, e164)[before:], timeout=timeout, what=f"a code for {e164}"
    )
    confirmed = api.post("/customers/me/phone/verification/confirm/", json={"code": codes[-1]})
    if confirmed.status_code != 200:
        raise AssertionError(f"code refused: {confirmed.status_code} {confirmed.text[:300]}")
    return confirmed.json()
