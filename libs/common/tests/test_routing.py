"""operations_path: one path, one APIView per method, one schema operation per view."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.generators import SchemaGenerator
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from ecomms_common.routing import operations_path


class ThingListView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"operation": "list"})


class ThingCreateView(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        return Response({"operation": "create", "body": request.data}, status=201)


urlpatterns = operations_path("things/", [ThingListView, ThingCreateView], name="thing-list")

pytestmark = pytest.mark.urls(__name__)


def test_each_method_reaches_its_own_view() -> None:
    client = APIClient()

    listed = client.get("/things/")
    created = client.post("/things/", {"name": "a"}, format="json")

    assert listed.json() == {"operation": "list"}
    assert (created.status_code, created.json()) == (
        201,
        {"operation": "create", "body": {"name": "a"}},
    )


def test_every_answer_allows_the_methods_of_both_views() -> None:
    client = APIClient()

    for response in (client.get("/things/"), client.head("/things/"), client.options("/things/")):
        assert response.status_code == 200
        assert response["Allow"] == "GET, POST, HEAD, OPTIONS"


def test_a_method_no_view_handles_is_a_405_in_the_error_shape() -> None:
    response = APIClient().put("/things/", {}, format="json")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, POST, HEAD, OPTIONS"


def test_the_schema_has_one_operation_per_view() -> None:
    schema = SchemaGenerator(patterns=urlpatterns).get_schema(request=None, public=True)

    assert set(schema["paths"]) == {"/things/"}
    assert set(schema["paths"]["/things/"]) == {"get", "post"}


def test_two_views_for_one_method_are_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="two views handle GET"):
        operations_path("things/", [ThingListView, ThingListView], name="x")
