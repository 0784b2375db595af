"""Input and output serializers of the orders API."""

import re
import unicodedata
from collections import Counter
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.validators import RegexValidator
from rest_framework import serializers

from ecomms_common.openapi import StrictCharField, StrictSerializer
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


class OrderLineInputSerializer(StrictSerializer):
    product_id = StrictIntegerField(min_value=1, max_value=MAX_PRODUCT_ID)
    quantity = StrictIntegerField(min_value=1)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # The limit is a setting: build the bound field with it, not at import time.
        self.fields["quantity"] = StrictIntegerField(
            min_value=1, max_value=settings.ORDER_MAX_QUANTITY
        )


class OrderPlaceInputSerializer(StrictSerializer):
    """``{"items": [{"product_id", "quantity"}], "currency"}``; any other field is a 400."""

    items = serializers.ListField(child=OrderLineInputSerializer(), allow_empty=False)
    currency = serializers.RegexField(
        CURRENCY_RE, error_messages={"invalid": "An ISO 4217 code in capitals, e.g. USD."}
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # The limit is a setting: build the bound field with it (the schema shows it too).
        self.fields["items"] = serializers.ListField(
            child=OrderLineInputSerializer(),
            allow_empty=False,
            min_length=1,
            max_length=settings.ORDER_MAX_ITEMS,
        )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # Count the items before checking each one: a long list is refused at once.
        items = data.get("items") if isinstance(data, dict) else None
        limit = settings.ORDER_MAX_ITEMS
        if isinstance(items, list) and len(items) > limit:
            raise serializers.ValidationError({"items": [f"At most {limit} items per order."]})
        return super().to_internal_value(data)

    def validate_items(self, items: list[dict[str, int]]) -> list[dict[str, int]]:
        counts = Counter(item["product_id"] for item in items)
        repeated = sorted(product_id for product_id, count in counts.items() if count > 1)
        if repeated:
            raise serializers.ValidationError(
                f"Each product may appear once; repeated: {', '.join(map(str, repeated))}."
                " Put the total quantity on one line."
            )
        return items


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


class OrderListFilterSerializer(serializers.Serializer):
    """Query parameters of ``GET /orders/`` (``customer`` counts for admins only)."""

    customer = serializers.CharField(required=False, max_length=255)
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # DRF reads an empty query parameter as absent; a filter given empty is a mistake.
        empty = {name: ["Must not be empty."] for name in self.fields if data.get(name) == ""}
        if empty:
            raise serializers.ValidationError(empty)
        return super().to_internal_value(data)

    def validate_customer(self, value: str) -> str:
        if "\x00" in value:
            raise serializers.ValidationError("Must not contain the NUL character (U+0000).")
        return value


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


class CustomerInputSerializer(StrictSerializer):
    full_name = PersonNameField(max_length=255, allow_blank=True, required=False)
    phone = PhoneNumberField(max_length=32, allow_blank=True, allow_null=True, required=False)


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


class PhoneVerificationInputSerializer(StrictSerializer):
    """``{"phone": "+254712345678"}``: the mobile number to send a code to."""

    phone = MobileNumberField(max_length=32)


class PhoneVerificationOutputSerializer(serializers.Serializer):
    phone = serializers.CharField(help_text="The number the code is sent to, in E.164 form.")
    expires_at = serializers.DateTimeField(help_text="The code cannot be confirmed after this.")
    attempts_allowed = serializers.IntegerField(help_text="Wrong codes before the code is dead.")


class PhoneCodeInputSerializer(StrictSerializer):
    """``{"code": "123456"}``: the code the SMS brought."""

    code = StrictCharField(
        validators=[
            RegexValidator(r"^[0-9]{6}$", message='The six digits of the code, e.g. "123456".')
        ]
    )
