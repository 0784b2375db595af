"""The OpenAPI description of the views that are not DRF views (see SPECTACULAR_SETTINGS).

Their error statuses beyond 400 and 404 (401, 413, 503) are added by ecomms_common.openapi.
"""

import pycountry

AVERAGE_PRICE_PATH = "/categories/{slug}/average_price/"
# ecomms_common.openapi.ERROR_REF (settings import this module: it must not load DRF).
_ERROR = {"$ref": "#/components/schemas/Error"}

APPEND_PATHS = {
    AVERAGE_PRICE_PATH: {
        "get": {
            "operationId": "categories_average_price_retrieve",
            "summary": "Average price of the distinct products in a category and its descendants",
            "tags": ["categories"],
            "parameters": [
                {"in": "path", "name": "slug", "required": True, "schema": {"type": "string"}},
                {
                    "in": "query",
                    "name": "currency",
                    # catalog.validation.KNOWN_CURRENCIES (a test holds them equal).
                    "schema": {
                        "type": "string",
                        "enum": sorted(currency.alpha_3 for currency in pycountry.currencies),
                    },
                    "description": "ISO 4217; default the catalog's.",
                },
                {
                    "in": "query",
                    "name": "include_descendants",
                    "schema": {"type": "boolean"},
                    "description": "Default true.",
                },
            ],
            "security": [{}],
            "responses": {
                "200": {
                    "description": "The average over the distinct products of that currency.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": [
                                    "category",
                                    "average_price",
                                    "currency",
                                    "product_count",
                                    "include_descendants",
                                ],
                                "properties": {
                                    "category": {"type": "string"},
                                    "average_price": {"type": "number", "nullable": True},
                                    "currency": {"type": "string"},
                                    "product_count": {"type": "integer"},
                                    "include_descendants": {"type": "boolean"},
                                },
                            }
                        }
                    },
                },
                "400": {
                    "description": "A bad parameter, named.",
                    "content": {"application/json": {"schema": _ERROR}},
                },
                "404": {
                    "description": "No category has that slug.",
                    "content": {"application/json": {"schema": _ERROR}},
                },
            },
        }
    }
}

APPEND_COMPONENTS: dict = {}
