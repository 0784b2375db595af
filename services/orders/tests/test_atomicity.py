"""An order and its event commit together or not at all, even when the transaction dies late."""

from collections.abc import Iterator

import pytest
from django.db import connection
from orders.models import IdempotencyKey, Order, OrderItem

from ecomms_common.outbox.models import OutboxMessage
from tests.conftest import BREAD_AND_ORANGES

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def outbox_insert_fails() -> Iterator[None]:
    """Make PostgreSQL refuse every outbox insert: the last write of the order's transaction."""
    table = OutboxMessage._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION test_refuse_outbox() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'outbox insert refused (simulated crash)';
            END $$ LANGUAGE plpgsql
            """
        )
        cursor.execute(
            f"CREATE TRIGGER test_refuse_outbox BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION test_refuse_outbox()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS test_refuse_outbox ON {table}")
        cursor.execute("DROP FUNCTION IF EXISTS test_refuse_outbox()")


def test_a_failure_after_the_order_insert_leaves_neither_order_nor_event(
    api_client, catalog, customer, outbox_insert_fails
) -> None:
    api_client.raise_request_exception = False

    response = api_client.post("/orders/", BREAD_AND_ORANGES, format="json", **customer())

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert len(catalog.requests) == 1  # it got as far as pricing and inserting
    assert not Order.objects.exists()
    assert not OrderItem.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_a_failed_placement_frees_its_idempotency_key(
    api_client, catalog, customer, outbox_insert_fails
) -> None:
    api_client.raise_request_exception = False
    headers = {**customer(), "HTTP_IDEMPOTENCY_KEY": "retry-me"}

    failed = api_client.post("/orders/", BREAD_AND_ORANGES, format="json", **headers)

    assert failed.status_code == 500
    assert not IdempotencyKey.objects.exists()
    assert not Order.objects.exists()


def test_a_committed_order_has_its_event(api_client, catalog, customer) -> None:
    response = api_client.post("/orders/", BREAD_AND_ORANGES, format="json", **customer())

    order = Order.objects.get()
    assert response.json()["id"] == order.pk
    assert order.items.count() == 2
    assert OutboxMessage.objects.get().envelope["data"]["order_id"] == order.pk
