"""What the orders API's views share: field types, and the rendering of an order and a customer.

Each view's own input and output serializers are nested in it (``orders.api.views``).
"""

import re
import unicodedata
from typing import Any

import phonenumbers
from django.conf import settings
from rest_framework import serializers

from ecomms_common.openapi import StrictCharField
from orders.models import Customer, OrderStatus

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
MAX_PRODUCT_ID = 2**63 - 1


class StrictIntegerField(serializers.IntegerField):
    """An integer given as a JSON integer: not a string, float or boolean."""

    default_error_messages = {"invalid": "A whole number is required (a JSON integer)."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class OrderItemOutputSerializer(serializers.Serializer):
    # Plain serializers, not ModelSerializers: these render every order placed or read, and a
    # ModelSerializer introspects the model again on every instantiation.
    product = serializers.IntegerField(source="product_id")
    name = serializers.CharField(source="product_name")
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()


class OrderOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    total_amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    currency = serializers.CharField()
    placed_at = serializers.DateTimeField()
    customer = serializers.CharField(source="customer.sub")
    items = OrderItemOutputSerializer(many=True)


class PhoneNumberField(StrictCharField):
    """A phone number, stored in E.164 form (``+254712345678``); null or empty clears it."""

    default_error_messages = {"invalid_phone": "Not a valid phone number; use the +<country> form."}

    def to_internal_value(self, data: Any) -> str:
        raw = super().to_internal_value(data)
        if not raw:
            return ""
        try:
            number = phonenumbers.parse(raw, settings.PHONE_DEFAULT_REGION)
        except phonenumbers.NumberParseException:
            self.fail("invalid_phone")
        if not phonenumbers.is_valid_number(number):
            self.fail("invalid_phone")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Number types an SMS can reach; premium-rate, shared-cost, toll-free, fixed lines and the like are
# refused before a code is sent to them.
SMS_NUMBER_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


class MobileNumberField(PhoneNumberField):
    """A phone number that can receive an SMS, in E.164 form; required."""

    default_error_messages = {
        "not_mobile": "Not a mobile number: a code can only be sent by SMS to a mobile phone."
    }

    def to_internal_value(self, data: Any) -> str:
        e164 = super().to_internal_value(data)
        if not e164:
            self.fail("blank")
        if phonenumbers.number_type(phonenumbers.parse(e164)) not in SMS_NUMBER_TYPES:
            self.fail("not_mobile")
        return e164


class PersonNameField(StrictCharField):
    """A name on one line: control characters (line breaks, tabs, escapes) become one space.

    The name is written into messages (the admin email's "Customer:" line), where a line break
    would let a customer add lines of their own. NUL is left for the field's validator to refuse.
    """

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if value.isprintable() or "\x00" in value:
            return value
        spaced = "".join(" " if unicodedata.category(char) == "Cc" else char for char in value)
        return " ".join(spaced.split())


class CustomerOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="sub")
    full_name = serializers.CharField(source="display_name")
    phone = serializers.SerializerMethodField()
    phone_verified = serializers.BooleanField(
        read_only=True,
        help_text="Whether the phone's code was confirmed; SMS go only to a verified phone.",
    )

    class Meta:
        model = Customer
        fields = ["id", "email", "full_name", "phone", "phone_verified", "created_at", "updated_at"]

    def get_phone(self, customer: Customer) -> str | None:
        return customer.phone or None
