"""The edge: the asynchronous server side of the gateway that proxies API calls.

``config.asgi`` sends every proxied path (:mod:`gateway.edge.routes`) to
:func:`gateway.edge.proxy.proxy_app` and everything else (login, tokens, JWKS, schema, probes,
metrics) to Django. Both run in one event loop per worker (:mod:`gateway.edge.worker`), whose
HTTP protocol (:mod:`gateway.edge.protocol`) enforces the read deadlines and the per-address
connection cap before any application code runs.
"""
