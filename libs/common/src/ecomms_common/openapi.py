"""The API contract every service shares: its error component, its pages and its strict inputs.

- ``Error``: the one OpenAPI component of ``{"error": {"code", "message", "details"}}``
  (:mod:`ecomms_common.errors`). :func:`document_errors`, a drf-spectacular postprocessing hook,
  adds it and the error statuses any operation can answer (400 bad request, 401 bad token, 403,
  404, 413 body too large, 415 for bodies, 503 database down) to every operation; views add the
  statuses of their own rules (409, 422) with :func:`error_responses`.
- :class:`CursorPage`: the one pagination of every list, keyset by id (``?cursor=``,
  ``?page_size=``), answering ``{"next", "previous", "results"}``; :func:`paginated` documents it.
- :class:`StrictSerializer` and :func:`reject_unknown_fields`: a field a request body does not
  know is a 400 naming it, never silently ignored.
"""

from collections.abc import Iterable, Mapping, Set
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.pagination import CursorPagination

ERROR_COMPONENT = "Error"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
            },
        }
    },
}

ERROR_DESCRIPTIONS = {
    400: "The request is invalid: `details` names each field (`code: invalid`), or the body or a"
    " header cannot be read.",
    401: "No, or a bad, access token.",
    403: "The token lacks the role this operation needs.",
    404: "No such resource (or one the caller may not see).",
    409: "The resource is not in a state that allows this.",
    413: "The body is larger than the service accepts (`details.max_bytes`).",
    415: "The body is not JSON.",
    422: "The request is well formed but cannot be carried out (see `code`).",
    502: "A service this one calls answered nonsense.",
    503: "A dependency (the database, another service) is unavailable; try again shortly.",
}
UNKNOWN_FIELD_MESSAGE = "Unknown field."
NO_NUL_PATTERN = r"^[^\x00]*$"
_BODY_METHODS = ("post", "put", "patch")


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """Return ``extend_schema`` responses documenting these error statuses with ``Error``."""
    return {
        code: OpenApiResponse(response=_ErrorSerializer, description=ERROR_DESCRIPTIONS[code])
        for code in statuses
    }


class _ErrorDetail(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()


class _ErrorSerializer(serializers.Serializer):
    error = _ErrorDetail()


def _error_response(code: int) -> dict[str, Any]:
    return {
        "description": ERROR_DESCRIPTIONS[code],
        "content": {"application/json": {"schema": ERROR_REF}},
    }


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular postprocessing hook: one ``Error`` component, used by every error status."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name in [name for name in schemas if name.startswith("_Error")]:
        del schemas[name]
    schemas[ERROR_COMPONENT] = ERROR_SCHEMA
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            # Views document their own errors with error_responses (an inline component):
            # point every error at the shared one.
            for status, response in responses.items():
                if str(status)[0] in "45":
                    response.setdefault("description", ERROR_DESCRIPTIONS.get(int(status), ""))
                    response["content"] = {"application/json": {"schema": ERROR_REF}}
            statuses = [400, 401, 403, 404, 413, 503]
            if method in _BODY_METHODS:
                statuses.append(415)
            if method == "post" and "requestBody" in operation:
                operation["requestBody"]["required"] = True  # no body is a 400, not a default
            for code in statuses:
                responses.setdefault(str(code), _error_response(code))
    return result


def reject_unknown_fields(data: Any, known: Iterable[str]) -> None:
    """Raise a 400 naming each key of ``data`` (a JSON object) that is not in ``known``."""
    if not isinstance(data, Mapping):
        return
    unknown = sorted(set(data) - set(known), key=str)
    if unknown:
        raise exceptions.ValidationError({str(name): [UNKNOWN_FIELD_MESSAGE] for name in unknown})


def unknown_field_errors(data: Any, known: Iterable[str]) -> dict[str, list[str]]:
    """Return ``{name: ["Unknown field."]}`` for each key of ``data`` not in ``known``."""
    # Exact types first: the ABC checks cost microseconds, and an upload asks once per product.
    if type(data) is not dict and not isinstance(data, Mapping):
        return {}
    if type(known) is not frozenset and not isinstance(known, Set):
        known = set(known)
    if data.keys() <= known:  # the usual case, in one C-level pass
        return {}
    return {str(name): [UNKNOWN_FIELD_MESSAGE] for name in data if name not in known}


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses the fields it does not declare (400 naming them)."""

    def to_internal_value(self, data: Any) -> Any:
        unknown = unknown_field_errors(data, self.fields.keys())
        try:
            value = super().to_internal_value(data)
        except exceptions.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise exceptions.ValidationError({**exc.detail, **unknown}) from None
            raise
        if unknown:
            raise exceptions.ValidationError(unknown)
        return value


class StrictSerializerSchema(OpenApiSerializerExtension):
    """Describe a StrictSerializer as it behaves: ``additionalProperties: false``."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**_nul_refused(self.target, schema), "additionalProperties": False}


class QueryParameters(serializers.Serializer):
    """The query parameters of an operation (``extend_schema(parameters=[...])``), which may come
    with others (a page's ``cursor``), so unknown names are not refused here."""


class QueryParametersSchema(OpenApiSerializerExtension):
    """Describe QueryParameters with what their text fields refuse (NUL)."""

    target_class = QueryParameters
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return _nul_refused(self.target, schema)


def _nul_refused(serializer: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """Give each text field of the schema the pattern of what DRF accepts: DRF refuses NUL in
    any CharField (PostgreSQL text cannot hold it)."""
    properties = schema.get("properties", {})
    for name, field in serializer.fields.items():
        described = properties.get(name)
        if (
            isinstance(field, serializers.CharField)
            and isinstance(described, dict)
            and described.get("type") == "string"
            and "pattern" not in described
        ):
            described["pattern"] = NO_NUL_PATTERN
    return schema


class StrictCharField(serializers.CharField):
    """A string given as a JSON string: a number or a boolean is refused, not turned into text."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class CursorPage(CursorPagination):
    """Keyset pages by id: ``?cursor=`` (opaque) and ``?page_size=`` (1 to ``max_page_size``).

    A cursor that was not made here (tampered, truncated, out of range) is a 404 ``not_found``
    "Invalid cursor", never an error of the database.
    """

    ordering = "id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request: Any) -> Any:
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        position = cursor.position
        digits = position[1:] if position.startswith("-") else position
        if not (digits.isascii() and digits.isdigit() and abs(int(position)) < 2**63):
            raise exceptions.NotFound(self.invalid_cursor_message)
        return cursor

    def get_page_size(self, request: Any) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not (
            raw.isascii() and raw.isdigit() and 0 < int(raw) <= self.max_page_size
        ):
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return super().get_page_size(request)


def page_parameters(paginator: type[CursorPage]) -> list[OpenApiParameter]:
    """Return the query parameters of a list paginated by ``paginator``."""
    return [
        OpenApiParameter(
            "cursor", str, description="Opaque; follow `next` or `previous` rather than build it."
        ),
        OpenApiParameter(
            paginator.page_size_query_param,
            {"type": "integer", "minimum": 1, "maximum": paginator.max_page_size},
            description=f"Default {paginator.page_size}.",
        ),
    ]


def paginated(name: str, item: serializers.Serializer) -> serializers.Serializer:
    """Return a serializer documenting a page of ``item``: ``{"next", "previous", "results"}``."""
    return inline_serializer(
        name=name,
        fields={
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item,
        },
    )
