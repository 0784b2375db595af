"""The building blocks the suite and ``make demo`` share, on their own (no stack needed)."""

import base64
import json
from decimal import Decimal

import pytest
from ecomms_e2e.client import (
    expected_average,
    find_slug,
    read_mail,
    read_sms,
    token_claims,
    wait_for,
)

TREES = {
    "categories": [
        {
            "name": "All Products",
            "slug": "all-products",
            "children": [
                {
                    "name": "Bakery",
                    "slug": "bakery",
                    "children": [{"name": "Organic", "slug": "organic-2", "children": []}],
                },
                {"name": "Organic", "slug": "organic", "children": []},
            ],
        }
    ]
}


def test_find_slug_follows_the_path_not_the_leaf_name():
    assert find_slug(TREES, ["All Products", "Organic"]) == "organic"
    assert find_slug(TREES, ["all products", "Bakery", "organic"]) == "organic-2"
    with pytest.raises(KeyError, match="Pantry"):
        find_slug(TREES, ["All Products", "Pantry"])


def test_expected_average_counts_a_product_in_two_categories_once_and_rounds_half_up():
    products = [
        {"price": "1.00", "currency": "USD", "categories": [["A", "B"], ["A", "C"]]},
        {"price": "1.01", "currency": "USD", "categories": [["A", "C"]]},
        {"price": "1.00", "currency": "USD", "categories": [["A", "C"]]},
        {"price": "9.00", "currency": "EUR", "categories": [["A", "B"]]},
        {"price": "8.00", "currency": "USD", "categories": [["AB"]]},
    ]
    assert expected_average(products, ["A"]) == (Decimal("1.00"), 3)  # 3.01 / 3
    assert expected_average(products[:2], ["A"]) == (Decimal("1.01"), 2)  # 1.005 -> 1.01
    assert expected_average(products, ["A", "B"]) == (Decimal("1.00"), 1)
    assert expected_average(products, ["A", "D"]) == (None, 0)


def test_token_claims_reads_the_payload():
    payload = base64.urlsafe_b64encode(json.dumps({"roles": ["admin"]}).encode()).rstrip(b"=")
    assert token_claims(f"e30.{payload.decode()}.sig") == {"roles": ["admin"]}


def test_readers_of_the_stand_ins_files(tmp_path):
    assert read_sms(tmp_path / "none.jsonl") == []
    assert read_mail(tmp_path / "none") == []
    record = tmp_path / "sms.jsonl"
    record.write_text('{"to": "+254711222333", "message": "hi"}\n\n')
    assert read_sms(record) == [{"to": "+254711222333", "message": "hi"}]
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "a.eml").write_bytes(
        b"To: admin@example.com\r\nSubject: New order #7\r\n\r\nItems: 2\r\n"
    )
    [mail] = read_mail(tmp_path / "mail")
    assert mail["Subject"] == "New order #7"
    assert mail.get_content().strip() == "Items: 2"


def test_wait_for_returns_the_first_truthy_answer_or_gives_up():
    answers = iter([None, [], ["sms"]])
    assert wait_for(lambda: next(answers), timeout=5, what="x", every=0) == ["sms"]
    with pytest.raises(TimeoutError, match="the email"):
        wait_for(lambda: None, timeout=0, what="the email", every=0)
