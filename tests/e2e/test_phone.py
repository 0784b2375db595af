"""Reading a verification code from the SMS stand-in's record, on its own (no stack needed)."""

import json
from pathlib import Path

from ecomms_e2e.phone import texted_codes

TEMPLATE = (
    Path(__file__).resolve().parents[2]
    / "services/notifier/notifier/templates/notifier/messages/phone_verification_sms.txt"
)


def _text(code: str) -> str:
    """The notifier's own template, filled in as it renders it."""
    return (
        TEMPLATE.read_text()
        .replace("{{ event.code }}", code)
        .replace("{{ event.valid_minutes }}", "10")
        .strip()
    )


def test_codes_are_read_from_the_notifiers_text_per_number(tmp_path):
    record = tmp_path / "sms.jsonl"
    sent = [
        {"to": "+254711000001", "message": _text("042917")},
        {"to": "+254711000002", "message": _text("111111")},
        {"to": "+254711000001", "message": "Your order #42 has been placed. Total: 1.00 USD."},
        {"to": "+254711000001", "message": _text("900100")},
    ]
    record.write_text("".join(json.dumps(sms) + "\n" for sms in sent))

    assert texted_codes(record, "+254711000001") == ["042917", "900100"]
    assert texted_codes(record, "+254711000009") == []
    assert texted_codes(tmp_path / "none.jsonl", "+254711000001") == []
