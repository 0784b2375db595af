"""Idempotency-Key on POST /orders/: one order per key and body, replayed, scoped, expiring."""

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import close_old_connections, connection
from django.utils import timezone
from orders.models import IdempotencyKey, Order
from rest_framework.test import APIClient

from ecomms_common.outbox.models import OutboxMessage
from tests.conftest import BREAD_AND_ORANGES

ONE_BREAD = {"items": [{"product_id": 10, "quantity": 1}], "currency": "USD"}


def place(client, headers, key, body=BREAD_AND_ORANGES):
    return client.post("/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=key, **headers)


@pytest.mark.django_db
class TestSequential:
    def test_the_same_key_and_body_return_the_first_response(
        self, api_client, catalog, customer
    ) -> None:
        first = place(api_client, customer(), "key-1")
        # The same JSON with its keys in another order is the same body.
        again_body = {"currency": "USD", "items": BREAD_AND_ORANGES["items"]}
        second = place(api_client, customer(), "key-1", again_body)

        assert first.status_code == second.status_code == 201
        assert second.json() == first.json()
        assert second["Idempotent-Replayed"] == "true"
        assert Order.objects.count() == 1
        assert OutboxMessage.objects.count() == 1
        assert len(catalog.requests) == 1

    def test_the_replay_is_the_first_response_even_after_changes(
        self, api_client, catalog, customer
    ) -> None:
        first = place(api_client, customer(), "key-1")
        api_client.post(f"/orders/{first.json()['id']}/cancel/", **customer())

        second = place(api_client, customer(), "key-1")

        assert second.json()["status"] == "PENDING"
        assert second.json() == first.json()

    def test_the_same_key_with_another_body_is_a_422(self, api_client, catalog, customer) -> None:
        place(api_client, customer(), "key-1")

        response = place(api_client, customer(), "key-1", ONE_BREAD)

        assert response.status_code == 422
        assert response.json()["error"]["code"] == "idempotency_key_reused"
        assert Order.objects.count() == 1

    def test_keys_are_scoped_to_the_customer(self, api_client, catalog, customer) -> None:
        alice = place(api_client, customer("alice"), "shared-key")
        bob = place(api_client, customer("bob"), "shared-key")

        assert alice.status_code == bob.status_code == 201
        assert alice.json()["id"] != bob.json()["id"]
        assert Order.objects.count() == 2

    def test_an_expired_key_places_a_new_order(self, api_client, catalog, customer) -> None:
        first = place(api_client, customer(), "key-1")
        IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

        second = place(api_client, customer(), "key-1", ONE_BREAD)

        assert second.status_code == 201
        assert second.json()["id"] != first.json()["id"]
        assert Order.objects.count() == 2

    def test_keys_expire_after_the_configured_time(
        self, api_client, catalog, customer, settings
    ) -> None:
        settings.IDEMPOTENCY_KEY_TTL_SECONDS = 3600
        before = timezone.now()

        place(api_client, customer(), "key-1")

        record = IdempotencyKey.objects.get()
        assert record.response_status == 201
        assert before + timedelta(seconds=3600) <= record.expires_at
        assert record.expires_at <= timezone.now() + timedelta(seconds=3600)

    def test_a_failed_placement_can_be_retried_with_its_key(
        self, api_client, catalog, customer
    ) -> None:
        catalog.fail_next = 3
        failed = place(api_client, customer(), "key-1")

        retried = place(api_client, customer(), "key-1")

        assert failed.status_code == 503
        assert retried.status_code == 201
        assert Order.objects.count() == 1

    @pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
    def test_a_malformed_key_is_a_400(self, api_client, catalog, customer, key) -> None:
        response = place(api_client, customer(), key)

        assert response.status_code == 400
        assert "Idempotency-Key" in response.json()["error"]["details"]
        assert not Order.objects.exists()

    def test_expired_keys_are_purged_by_a_command(self, api_client, catalog, customer) -> None:
        place(api_client, customer(), "old")
        place(api_client, customer(), "new", ONE_BREAD)
        IdempotencyKey.objects.filter(key="old").update(expires_at=timezone.now())

        call_command("purge_idempotency_keys")

        assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def _post_in_thread(headers, key, results, start: threading.Barrier | None = None) -> None:
    try:
        if start is not None:
            start.wait(timeout=5)
        response = place(APIClient(), headers, key)
        results.append((response.status_code, response.json()))
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
class TestConcurrent:
    def test_two_concurrent_requests_with_one_key_create_one_order(self, catalog, customer) -> None:
        catalog.delay_seconds = 0.2  # both requests are in flight together
        headers = customer()
        APIClient().get("/customers/me/", **headers)  # both find the customer row
        results: list = []
        start = threading.Barrier(2)
        threads = [
            threading.Thread(target=_post_in_thread, args=(headers, "same-key", results, start))
            for _ in range(2)
        ]

        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)

        assert Order.objects.count() == 1
        assert OutboxMessage.objects.count() == 1
        # Both did the work; one committed, the other rolled back and answered the same order.
        assert [status for status, _ in results] == [201, 201]
        assert {body["id"] for _, body in results} == {Order.objects.get().pk}

    def test_a_second_request_while_the_first_runs_answers_the_first_order(
        self, catalog, customer
    ) -> None:
        catalog.delay_seconds = 0.3
        headers = customer()
        results: list = []
        first = threading.Thread(target=_post_in_thread, args=(headers, "k", results))

        first.start()
        assert catalog.received.wait(timeout=5)  # the first awaits prices, nothing stored yet
        during = place(APIClient(), headers, "k")
        first.join(timeout=10)
        after = place(APIClient(), headers, "k")

        assert during.status_code == results[0][0] == after.status_code == 201
        assert during.json() == results[0][1] == after.json()
        assert after["Idempotent-Replayed"] == "true"
        assert Order.objects.count() == 1
        assert OutboxMessage.objects.count() == 1


@pytest.mark.django_db(transaction=True)
class TestDatabaseOutage:
    def test_a_placement_cut_off_from_its_database_is_a_503_and_leaves_the_key_free(
        self, api_client, catalog, customer, database_proxy
    ) -> None:
        headers = customer()
        api_client.get("/customers/me/", **headers)
        # The database goes away while the catalog is being asked for prices: after the key was
        # looked up, before the order's transaction.
        catalog.on_request = database_proxy.cut

        failed = place(api_client, headers, "key-1")
        catalog.on_request = None
        database_proxy.restore()
        close_old_connections()  # what Django does after a request: drop the broken connection
        retried = place(api_client, headers, "key-1")

        assert failed.status_code == 503
        assert failed.json()["error"]["code"] == "database_unavailable"
        assert retried.status_code == 201, retried.json()
        assert "Idempotent-Replayed" not in retried
        assert list(Order.objects.values_list("pk", flat=True)) == [retried.json()["id"]]
        assert OutboxMessage.objects.count() == 1
