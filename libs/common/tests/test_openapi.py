"""The shared contract pieces: strict inputs, keyset pages and the Error component."""

import base64
from urllib.parse import quote

import pytest
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from ecomms_common.openapi import (
    ERROR_COMPONENT,
    CursorPage,
    StrictCharField,
    StrictSerializer,
    document_errors,
    reject_unknown_fields,
)


class Line(StrictSerializer):
    quantity = serializers.IntegerField(min_value=1)


class Order(StrictSerializer):
    name = StrictCharField()
    lines = Line(many=True)


def test_unknown_fields_are_named_beside_the_field_errors():
    order = Order(data={"name": 7, "lines": [{"quantity": 1, "price": "1"}], "total": "0"})
    assert not order.is_valid()
    assert order.errors == {
        "name": ["Must be a string."],
        "lines": {0: {"price": ["Unknown field."]}},
        "total": ["Unknown field."],
    }


def test_a_body_without_unknown_fields_is_valid():
    order = Order(data={"name": "x", "lines": [{"quantity": 2}]})
    assert order.is_valid(), order.errors


def test_reject_unknown_fields_names_each_and_ignores_non_objects():
    reject_unknown_fields([1, 2], ["a"])
    with pytest.raises(exceptions.ValidationError) as refused:
        reject_unknown_fields({"a": 1, "b": 2, "c": 3}, ["a"])
    assert set(refused.value.detail) == {"b", "c"}


def _request(query: str) -> Request:
    return Request(APIRequestFactory().get(f"/things/?{query}"))


@pytest.mark.parametrize(
    "query",
    [
        "cursor=" + quote(base64.b64encode(b"p=abc").decode()),
        "cursor=" + quote(base64.b64encode(b"p=" + b"9" * 30).decode()),
        "cursor=" + quote(base64.b64encode(b"o=x").decode()),
    ],
)
def test_a_cursor_not_made_here_is_a_404(query):
    with pytest.raises(exceptions.NotFound):
        CursorPage().decode_cursor(_request(query))


@pytest.mark.parametrize("size", ["0", "501", "ten", "-1"])
def test_a_page_size_outside_its_range_is_a_400(size):
    with pytest.raises(exceptions.ValidationError):
        CursorPage().get_page_size(_request(f"page_size={size}"))


def test_a_page_size_within_its_range_is_used():
    assert CursorPage().get_page_size(_request("page_size=500")) == 500


def test_every_operation_gets_the_error_statuses_with_one_component():
    schema = {
        "components": {"schemas": {"_Error": {}, "_ErrorDetail": {}}},
        "paths": {
            "/things/": {
                "post": {"requestBody": {}, "responses": {"409": {"description": "x"}}},
                "parameters": [],
            }
        },
    }
    result = document_errors(schema, None, None, True)
    assert set(result["components"]["schemas"]) == {ERROR_COMPONENT}
    post = result["paths"]["/things/"]["post"]
    assert post["requestBody"]["required"] is True
    assert set(post["responses"]) == {"400", "401", "403", "404", "409", "413", "415", "503"}
    refs = {r["content"]["application/json"]["schema"]["$ref"] for r in post["responses"].values()}
    assert refs == {"#/components/schemas/Error"}
