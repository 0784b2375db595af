"""Validate upload and category payloads fast enough for 10,000 products a request.

DRF serializers cost tens of microseconds per field, so an upload of 10,000 products is validated
here in plain Python, with errors in DRF's shape: ``{"products": {"<index>": {"<field>": [...]}}}``.
Every problem of every item is reported, and nothing is written unless all items are valid.
"""

import re
import unicodedata
from decimal import Decimal
from typing import Any, NamedTuple

import pycountry
from rest_framework.exceptions import ValidationError

from catalog.models import PRICE_DECIMAL_PLACES, PRICE_MAX_DIGITS
from ecomms_common.openapi import reject_unknown_fields, unknown_field_errors

NAME_MAX_LENGTH = 255
CATEGORY_NAME_MAX_LENGTH = 100
DESCRIPTION_MAX_LENGTH = 10_000
PATH_MAX_DEPTH = 10
PATHS_PER_PRODUCT_MAX = 20
SKU_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]{0,63}$")
# Positive: zero in any spelling ("0", "0.00") is refused by the look-ahead.
PRICE_PATTERN = re.compile(
    r"^(?!0+(\.0+)?$)"
    rf"\d{{1,{PRICE_MAX_DIGITS - PRICE_DECIMAL_PLACES}}}(\.\d{{1,{PRICE_DECIMAL_PLACES}}})?$"
)
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
KNOWN_CURRENCIES = frozenset(currency.alpha_3 for currency in pycountry.currencies)

REQUIRED_MESSAGE = "This field is required."
UPLOAD_FIELDS = frozenset({"products"})
PRODUCT_FIELDS = frozenset({"name", "description", "price", "currency", "sku", "categories"})
# PostgreSQL text cannot hold U+0000.
NUL_MESSAGE = "Must not contain the NUL character (U+0000)."

CategoryPath = tuple[str, ...]


class ProductInput(NamedTuple):
    """One valid product of an upload (a named tuple: 10,000 of them are built per request)."""

    name: str
    description: str
    price: Decimal
    currency: str
    sku: str | None
    category_paths: tuple[CategoryPath, ...]

    @property
    def price_cents(self) -> int:
        return int(self.price.scaleb(PRICE_DECIMAL_PLACES))


def clean_name(value: Any, *, max_length: int) -> str:
    """Return a trimmed, NFC-normalised name; raise ValueError saying what is wrong."""
    if not isinstance(value, str):
        raise ValueError("Must be a string.")
    if "\x00" in value:
        raise ValueError(NUL_MESSAGE)
    # The limit holds for the name as sent (what the schema says), before any trimming.
    if len(value) > max_length:
        raise ValueError(f"Must be at most {max_length} characters.")
    # Other control characters than tab and line breaks (a bell, an escape pasted from a
    # terminal) become spaces; tabs and line breaks are kept as sent.
    if not value.isprintable():
        value = "".join(
            " " if unicodedata.category(char) == "Cc" and char not in "\t\n\r" else char
            for char in value
        )
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise ValueError("Must not be empty or only whitespace.")
    if len(name) > max_length:
        raise ValueError(f"Must be at most {max_length} characters.")
    return name


def clean_path(value: Any) -> CategoryPath:
    """Return a category path (root first); raise ValueError saying what is wrong."""
    if not isinstance(value, list):
        raise ValueError("A category path must be a list of names, root first.")
    if not value:
        raise ValueError("A category path must not be empty.")
    if len(value) > PATH_MAX_DEPTH:
        raise ValueError(f"A category path may be at most {PATH_MAX_DEPTH} levels deep.")
    names = []
    for level, element in enumerate(value):
        try:
            names.append(clean_name(element, max_length=CATEGORY_NAME_MAX_LENGTH))
        except ValueError as exc:
            raise ValueError(f"Level {level}: {exc}") from None
    return tuple(names)


def clean_price(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise ValueError('Must be a decimal string such as "3.99" (JSON numbers lose precision).')
    if not PRICE_PATTERN.fullmatch(value):
        raise ValueError(
            f"Must be a positive decimal with at most {PRICE_DECIMAL_PLACES} decimal places and "
            f"{PRICE_MAX_DIGITS - PRICE_DECIMAL_PLACES} digits before the point."
        )
    return Decimal(value)


def clean_currency(value: Any) -> str:
    if not isinstance(value, str) or not CURRENCY_PATTERN.fullmatch(value):
        raise ValueError("Must be an ISO 4217 code in capitals, such as USD.")
    if value not in KNOWN_CURRENCIES:
        raise ValueError(f"{value} is not an ISO 4217 currency code.")
    return value


def _clean_path_cached(value: Any, cache: dict[tuple, CategoryPath | str]) -> CategoryPath | str:
    """Return the cleaned path, or what is wrong with it; the same raw path is cleaned once.

    An upload of 10,000 products names a few thousand distinct paths, each many times.
    """
    try:
        key = tuple(value) if isinstance(value, list) else None
        if key is not None and key in cache:
            return cache[key]
    except TypeError:  # an element that cannot be hashed (a list, an object): clean it anyway
        key = None
    try:
        cleaned: CategoryPath | str = clean_path(value)
    except ValueError as exc:
        cleaned = str(exc)
    if key is not None:
        cache[key] = cleaned
    return cleaned


def _clean_product(
    raw: Any, default_currency: str, path_cache: dict[tuple, CategoryPath | str]
) -> tuple[ProductInput | None, dict]:
    if not isinstance(raw, dict):
        return None, {"non_field_errors": ["Each product must be an object."]}
    errors: dict[str, list[str]] = unknown_field_errors(raw, PRODUCT_FIELDS)
    name = price = currency = None
    try:
        name = clean_name(raw["name"], max_length=NAME_MAX_LENGTH)
    except KeyError:
        errors["name"] = [REQUIRED_MESSAGE]
    except ValueError as exc:
        errors["name"] = [str(exc)]
    description = raw.get("description")
    if description is None:
        description = ""
    if not isinstance(description, str):
        errors["description"] = ["Must be a string."]
    elif len(description) > DESCRIPTION_MAX_LENGTH:
        errors["description"] = [f"Must be at most {DESCRIPTION_MAX_LENGTH} characters."]
    elif "\x00" in description:
        errors["description"] = [NUL_MESSAGE]
    try:
        price = clean_price(raw["price"])
    except KeyError:
        errors["price"] = [REQUIRED_MESSAGE]
    except ValueError as exc:
        errors["price"] = [str(exc)]
    try:
        currency = clean_currency(raw.get("currency", default_currency))
    except ValueError as exc:
        errors["currency"] = [str(exc)]
    sku = raw.get("sku")
    if sku is not None and (not isinstance(sku, str) or not SKU_PATTERN.fullmatch(sku)):
        errors["sku"] = [
            "Must be 1-64 letters, digits or . _ - / (starting with a letter or digit)."
        ]
    paths = raw.get("categories", [])
    category_paths: list[CategoryPath] = []
    if not isinstance(paths, list):
        errors["categories"] = ["Must be a list of category paths."]
    elif len(paths) > PATHS_PER_PRODUCT_MAX:
        errors["categories"] = [f"At most {PATHS_PER_PRODUCT_MAX} category paths per product."]
    else:
        for position, path in enumerate(paths):
            cleaned = _clean_path_cached(path, path_cache)
            if isinstance(cleaned, tuple):
                category_paths.append(cleaned)
            else:
                errors.setdefault("categories", []).append(f"Path {position}: {cleaned}")
    if errors:
        return None, errors
    return ProductInput(
        name, description.strip(), price, currency, sku, tuple(dict.fromkeys(category_paths))
    ), {}


def validate_upload(
    payload: Any, *, max_products: int, default_currency: str
) -> list[ProductInput]:
    """Return every product of an upload payload, or raise ValidationError listing every problem."""
    if not isinstance(payload, dict) or "products" not in payload:
        raise ValidationError({"products": [REQUIRED_MESSAGE]})
    reject_unknown_fields(payload, UPLOAD_FIELDS)
    raw_products = payload["products"]
    if not isinstance(raw_products, list):
        raise ValidationError({"products": ["Must be a list of products."]})
    if not raw_products:
        raise ValidationError({"products": ["Must contain at least one product."]})
    if len(raw_products) > max_products:
        raise ValidationError({"products": [f"At most {max_products} products per upload."]})
    products, errors = [], {}
    first_index_of_sku: dict[str, int] = {}
    path_cache: dict[tuple, CategoryPath | str] = {}
    for index, raw in enumerate(raw_products):
        product, item_errors = _clean_product(raw, default_currency, path_cache)
        if product is not None and product.sku is not None:
            first = first_index_of_sku.setdefault(product.sku, index)
            if first != index:
                item_errors = {"sku": [f"Duplicates the sku of product {first}."]}
        if item_errors:
            errors[str(index)] = item_errors
        else:
            products.append(product)
    if errors:
        raise ValidationError({"products": errors})
    return products


# Some character other than whitespace and control characters (which become spaces), no NUL.
_NAME_PATTERN = r"^[^\x00]*[^\s\x00-\x1f\x7f-\x9f][^\x00]*$"


def _name_schema(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": _NAME_PATTERN}


def path_json_schema() -> dict[str, Any]:
    """Return the JSON Schema of a category path, as clean_path accepts it."""
    return {
        "type": "array",
        "minItems": 1,
        "maxItems": PATH_MAX_DEPTH,
        "items": _name_schema(CATEGORY_NAME_MAX_LENGTH),
        "description": "Category names from the root down.",
    }


def upload_json_schema(*, max_products: int) -> dict[str, Any]:
    """Return the JSON Schema of an upload, built from the definitions the validator uses.

    One rule is not expressible in JSON Schema: a sku may appear once per upload.
    """
    path = path_json_schema()
    product = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "price"],
        "properties": {
            "name": _name_schema(NAME_MAX_LENGTH),
            "description": {
                "type": "string",
                "nullable": True,
                "maxLength": DESCRIPTION_MAX_LENGTH,
                "pattern": r"^[^\x00]*$",
            },
            "price": {
                "type": "string",
                "pattern": PRICE_PATTERN.pattern,
                "description": 'A positive decimal string, e.g. "3.99"; JSON numbers are refused.',
            },
            "currency": {
                "type": "string",
                "enum": sorted(KNOWN_CURRENCIES),
                "description": "ISO 4217; absent means the catalog's default.",
            },
            "sku": {
                "type": "string",
                "nullable": True,
                "pattern": SKU_PATTERN.pattern,
                "description": "Upsert key: an existing sku is updated; unique in an upload.",
            },
            "categories": {
                "type": "array",
                "maxItems": PATHS_PER_PRODUCT_MAX,
                "items": path,
                "description": "Paths the product is linked to (the leaf of each); may be empty.",
            },
        },
    }
    assert set(product["properties"]) == set(PRODUCT_FIELDS)
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(UPLOAD_FIELDS),
        "properties": {
            "products": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_products,
                "items": product,
            }
        },
    }
