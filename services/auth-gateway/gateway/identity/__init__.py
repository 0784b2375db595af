"""Identity: who the caller is, and the tokens that say so.

The OIDC login (:mod:`~gateway.identity.oidc`, mozilla-django-oidc), the account linked to a
provider's subject and its roles (:mod:`~gateway.identity.services`), the key ring that signs
access and refresh tokens (:mod:`~gateway.identity.keys`, :mod:`~gateway.identity.tokens`), the
token, logout and JWKS views (:mod:`~gateway.identity.views`, routed by
:mod:`~gateway.identity.urls`), and DRF's authentication by our own tokens
(:mod:`~gateway.identity.authentication`). Django views: called a few times per session, unlike
the proxied API paths of :mod:`gateway.edge`.
"""
