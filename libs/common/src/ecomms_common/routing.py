"""One path served by one ``APIView`` per operation, chosen by the request's HTTP method.

Django routes a path to one view; a resource whose operations share a path (``GET /orders/``
lists, ``POST /orders/`` places) would otherwise need one view with two handlers. In a
service's ``urls.py``::

    urlpatterns = [
        *operations_path("orders/", [OrderListView, OrderPlaceView], name="order-list"),
    ]
"""

from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.views import APIView

# Methods every APIView answers by itself: not operations of their own.
_IMPLIED = ("head", "options")


def _allow_header(methods: set[str]) -> str:
    """Return ``Allow`` as one view with every handler would send it (DRF's method order)."""
    allowed = set(methods) | {"options"} | ({"head"} if "get" in methods else set())
    return ", ".join(m.upper() for m in APIView.http_method_names if m in allowed)


def operations_path(route: str, views: Sequence[type[APIView]], *, name: str) -> list[URLPattern]:
    """Return the URL patterns that send each request on ``route`` to the view of its method.

    Each view handles its own methods (two views handling one method is an error). HEAD goes
    where GET goes; OPTIONS and methods no view handles go to the first view, which answers
    them (a 405 in the usual error shape). Every answer's ``Allow`` names the methods of all
    the views.

    The first pattern is the dispatcher, which Django always matches first. The views' own
    patterns after it are never reached by a request: they are there for the OpenAPI
    generator, which reads each view's operations from them (it skips the dispatcher, which is
    no APIView).
    """
    handlers: dict[str, Callable[..., HttpResponse]] = {}
    callbacks = []
    for view in views:
        callback = view.as_view()
        callbacks.append(callback)
        for method in view.http_method_names:
            if method in _IMPLIED or not hasattr(view, method):
                continue
            if method in handlers:
                raise ImproperlyConfigured(
                    f"operations_path({route!r}): two views handle {method.upper()}."
                )
            handlers[method] = callback
    fallback = callbacks[0]
    allow = _allow_header(set(handlers))

    @csrf_exempt  # as APIView.as_view(): each view's authentication decides about CSRF
    def dispatch(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        method = request.method.lower() if request.method else ""
        handler = handlers.get("get" if method == "head" else method, fallback)
        response = handler(request, *args, **kwargs)
        if response.has_header("Allow"):
            response["Allow"] = allow
        return response

    return [
        path(route, dispatch, name=name),
        *(path(route, callback) for callback in callbacks),
    ]
