"""Test helpers for services: the pytest plugin, bad tokens, the API contract and fuzz checks.

The local servers tests run against (the JWKS and token minter, the TCP proxy, the SMS and SMTP
stand-ins) are in the ecomms-standins package (``ecomms_standins``), which no image installs.
"""

from ecomms_common.testing.bad_tokens import BAD_ACCESS_TOKENS

__all__ = ["BAD_ACCESS_TOKENS"]
