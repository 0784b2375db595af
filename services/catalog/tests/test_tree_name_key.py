"""Sibling names are compared as PostgreSQL's lower() compares them: one character at a time."""

import sys

import pytest
from catalog.tree import name_key


def one_at_a_time(name: str) -> str:
    return "".join(char.lower()[:1] for char in name)


def test_every_character_lowers_as_on_its_own():
    # str.lower takes a shortcut for names without U+03A3 and U+0130: it must agree everywhere
    for code_point in range(sys.maxunicode + 1):
        if 0xD800 <= code_point <= 0xDFFF:
            continue  # surrogates are not characters of a JSON string
        char = chr(code_point)
        assert name_key(char) == one_at_a_time(char), hex(code_point)


@pytest.mark.parametrize(
    "name", ["ΟΔΟΣ", "ΣΑΣ ΣΑΣ", "Οδος", "İstanbul", "Fruits", "ÄÖÜ straße", "ǅemal"]
)
def test_names_with_and_without_context_dependent_capitals(name):
    assert name_key(name) == one_at_a_time(name)
