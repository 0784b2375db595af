"""Small views that exercise the shared plumbing the way a service would."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import connection
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from ecomms_common.auth import IsAdmin, IsCustomer
from ecomms_common.errors import ServiceUnavailable
from ecomms_common.forwarding import FORWARDING_META_KEYS
from ecomms_common.http import OutboundSession
from ecomms_common.outbox.models import OutboxMessage


class WhoAmIView(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request):
        user = request.user
        return Response(
            {"sub": user.sub, "email": user.email, "name": user.name, "roles": sorted(user.roles)}
        )


class AdminOnlyView(APIView):
    permission_classes = [IsAdmin]

    def get(self, request):
        return Response({"ok": True})


class CustomerOnlyView(APIView):
    permission_classes = [IsCustomer]

    def get(self, request):
        return Response({"ok": True})


class EchoInput(serializers.Serializer):
    name = serializers.CharField(max_length=10)
    quantity = serializers.IntegerField(min_value=1)


class EchoView(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        payload = EchoInput(data=request.data)
        payload.is_valid(raise_exception=True)
        return Response(payload.validated_data, status=201)


class BrokenView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("boom")


class UpstreamDownView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise ServiceUnavailable("Upstream is down.", details={"dependency": "upstream"})


class RelayView(APIView):
    """Call another HTTP service (given by ?url=) and return what it answered."""

    permission_classes = [AllowAny]

    def get(self, request):
        answer = OutboundSession().get(request.query_params["url"])
        return Response(answer.json())


class RaisingView(APIView):
    """Raise the exception named by ?kind=, as view code deep in a service would."""

    permission_classes = [AllowAny]
    raised = {
        "http404": lambda: Http404("no such order"),
        "django_permission_denied": lambda: DjangoPermissionDenied("not yours"),
        "structured_permission_denied": lambda: exceptions.PermissionDenied(
            {"order": "belongs to another customer"}
        ),
        "listed_permission_denied": lambda: exceptions.PermissionDenied(["one", "two"]),
        "unattributed_validation_error": lambda: serializers.ValidationError("Pick a or b."),
    }

    def get(self, request):
        raise self.raised[request.query_params["kind"]]()


class OutboxCountView(APIView):
    """Read the database in a DRF view."""

    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"outbox": OutboxMessage.objects.count()})


def outbox_count(request: HttpRequest) -> JsonResponse:
    """Read the database in a plain Django view (outside DRF's exception handler)."""
    return JsonResponse({"outbox": OutboxMessage.objects.count()})


# Queries the server refuses for what they are, whatever the connection: a retry fails again.
FAILING_QUERIES = {
    "cancelled": ["SET LOCAL statement_timeout = 1", "SELECT pg_sleep(1)"],
    "syntax": ["SELECT 1::bigint[[]"],
    "undefined_table": ["SELECT * FROM no_such_table"],
    "division_by_zero": ["SELECT 1 / 0"],
    "out_of_range": ["SELECT 99999999999::integer"],
}


class FailingQueryView(APIView):
    """Run the query that ?kind= names, which the database refuses."""

    permission_classes = [AllowAny]

    def get(self, request):
        with connection.cursor() as cursor:
            for statement in FAILING_QUERIES[request.query_params["kind"]]:
                cursor.execute(statement)
        return Response({"ran": True})


def origin(request: HttpRequest) -> JsonResponse:
    """Answer with the absolute URL Django builds for this request and the forwarding it kept."""
    return JsonResponse(
        {
            "url": request.build_absolute_uri(),
            "forwarded": {
                key: request.META[key] for key in FORWARDING_META_KEYS if key in request.META
            },
        }
    )
