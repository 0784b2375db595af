"""The orders service's routes plus ``GET /bench/hello/``: the same stack doing no work."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import *  # noqa: F403
from config.urls import urlpatterns as service_urlpatterns


class HelloView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"hello": "world"})


urlpatterns = [
    *service_urlpatterns,
    path("bench/hello/", HelloView.as_view()),
    # the same view where the gateway proxies to orders, for runs through the gateway
    path("customers/bench-hello/", HelloView.as_view()),
]
