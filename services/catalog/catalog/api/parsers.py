"""Request body parsing for large uploads."""

from typing import Any

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser


class OrjsonParser(BaseParser):
    """Parse a JSON body with orjson: strict RFC 8259 (no NaN or Infinity), UTF-8.

    A 10,000-product upload is a few MB; orjson reads it about four times faster than the
    standard library parser DRF uses.
    """

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            return orjson.loads(stream.read())
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
