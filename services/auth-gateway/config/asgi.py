"""The gateway's one application (``gunicorn config.asgi:application``, see gunicorn.conf.py).

Proxied paths (``gateway.edge.routes``) go to the edge, everything else (login, tokens, JWKS,
schema, docs, probes, metrics) to Django. Both get ``receive`` under the body deadline.
"""

import os
from typing import Any

from django.core.asgi import get_asgi_application

from ecomms_common.tracing import tracing_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Before Django builds its middleware chain (tracing adds its own); nothing when tracing is off.
# The edge traces its proxied calls itself (gateway.edge.tracing).
tracing_setup()

django_application = get_asgi_application()

from django.conf import settings  # noqa: E402 - after Django is set up
from gateway.edge.deadlines import BodyDeadline, RequestTimeout, send_timeout  # noqa: E402
from gateway.edge.proxy import proxy_app  # noqa: E402
from gateway.edge.routes import route  # noqa: E402
from gateway.edge.upstream import close_sessions  # noqa: E402


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        await django_application(scope, receive, send)
        return
    receive = BodyDeadline(receive, settings.EDGE_BODY_TIMEOUT_SECONDS)
    if route(scope["path"]) is not None:
        await proxy_app(scope, receive, send)
        return
    try:
        await django_application(scope, receive, send)
    except RequestTimeout as exc:  # Django reads the whole body before it calls a view
        await send_timeout(send, exc)


async def lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await close_sessions()
            await send({"type": "lifespan.shutdown.complete"})
            return
