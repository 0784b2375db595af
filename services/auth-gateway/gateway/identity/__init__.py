"""Identity: who the caller is, and the tokens that say so (the parts below the gateway's API).

The OIDC login (:mod:`~gateway.identity.oidc`, mozilla-django-oidc), the key ring that signs
access and refresh tokens (:mod:`~gateway.identity.keys`, :mod:`~gateway.identity.tokens`), the
token denylist (:mod:`~gateway.identity.revocation`) and DRF's authentication by our own tokens
(:mod:`~gateway.identity.authentication`). The writes on accounts and tokens are
:mod:`gateway.services`, the reads :mod:`gateway.selectors`, and the operations that expose them
:mod:`gateway.api` (Django views: called a few times per session, unlike the proxied API paths
of :mod:`gateway.edge`).
"""
