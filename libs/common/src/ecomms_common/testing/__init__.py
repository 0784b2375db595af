"""Test helpers for services: a local JWKS that mints gateway-shaped tokens, and bad tokens."""

from ecomms_common.testing.bad_tokens import BAD_ACCESS_TOKENS
from ecomms_common.testing.jwks import LocalJWKS, SigningKey, TokenMinter

__all__ = ["BAD_ACCESS_TOKENS", "LocalJWKS", "SigningKey", "TokenMinter"]
