"""Test helpers for services: a local JWKS that mints gateway-shaped tokens."""

from ecomms_common.testing.jwks import LocalJWKS, SigningKey

__all__ = ["LocalJWKS", "SigningKey"]
