"""GET/PATCH /customers/me/: made from the token on first use; name and phone set by them."""

import pytest
from orders.models import Customer

pytestmark = pytest.mark.django_db


def test_a_customer_is_created_from_the_token_on_first_use(api_client, customer) -> None:
    response = api_client.get("/customers/me/", **customer("wanjiru", name="Wanjiru Kamau"))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "sub-wanjiru"
    assert body["email"] == "wanjiru@example.com"
    assert body["full_name"] == "Wanjiru Kamau"
    assert body["phone"] is None
    assert body["phone_verified"] is False
    assert Customer.objects.filter(sub="sub-wanjiru").count() == 1


def test_email_and_name_follow_the_token(api_client, customer) -> None:
    api_client.get("/customers/me/", **customer("wanjiru"))

    response = api_client.get(
        "/customers/me/", **customer("wanjiru", email="w.kamau@example.com", name="W. Kamau")
    )

    assert response.json()["email"] == "w.kamau@example.com"
    assert response.json()["full_name"] == "W. Kamau"
    assert Customer.objects.count() == 1


def test_the_customer_sets_their_name(api_client, customer) -> None:
    response = api_client.patch(
        "/customers/me/", {"full_name": "Wanjiru Kamau"}, format="json", **customer()
    )

    assert response.status_code == 200
    assert response.json()["full_name"] == "Wanjiru Kamau"
    # The name they chose wins over the token's from now on.
    assert api_client.get("/customers/me/", **customer()).json()["full_name"] == "Wanjiru Kamau"


def test_a_confirmed_phone_is_stored_in_e164_and_verified(api_client, customer, verify_phone):
    body = verify_phone(customer(), "+254 712 345-678")

    assert (body["phone"], body["phone_verified"]) == ("+254712345678", True)
    stored = Customer.objects.get()
    assert stored.phone == "+254712345678"
    assert stored.phone_verified_at is not None
    me = api_client.get("/customers/me/", **customer()).json()
    assert (me["phone"], me["phone_verified"]) == ("+254712345678", True)


def test_a_national_number_is_read_in_the_default_region(customer, settings, verify_phone):
    settings.PHONE_DEFAULT_REGION = "KE"

    assert verify_phone(customer(), "0712345678")["phone"] == "+254712345678"


@pytest.mark.parametrize("phone", ["12345", "0712345678", "+254 12", "not a phone", "+1 555 0100"])
def test_an_invalid_phone_is_a_400_and_sends_no_code(api_client, customer, phone) -> None:
    from ecomms_common.outbox.models import OutboxMessage

    response = api_client.post(
        "/customers/me/phone/verification/", {"phone": phone}, format="json", **customer()
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "phone" in response.json()["error"]["details"]
    assert not OutboxMessage.objects.exists()


def test_a_new_number_by_patch_is_a_400_naming_phone(api_client, customer, verify_phone):
    verify_phone(customer(), "+254712345678")

    response = api_client.patch(
        "/customers/me/", {"phone": "+254722000111"}, format="json", **customer()
    )

    assert response.status_code == 400
    assert "phone" in response.json()["error"]["details"]
    assert Customer.objects.get().phone == "+254712345678"
    # The number they have already is no change.
    same = api_client.patch(
        "/customers/me/", {"phone": "+254712345678", "full_name": "W"}, format="json", **customer()
    )
    assert same.status_code == 200
    assert (same.json()["phone"], same.json()["phone_verified"]) == ("+254712345678", True)


def test_the_phone_can_be_cleared(api_client, customer, verify_phone) -> None:
    verify_phone(customer())

    response = api_client.patch("/customers/me/", {"phone": None}, format="json", **customer())

    assert (response.json()["phone"], response.json()["phone_verified"]) == (None, False)
    assert Customer.objects.get().phone_verified_at is None


def test_the_name_and_verified_phone_reach_the_order_event(
    api_client, catalog, customer, verify_phone
) -> None:
    from ecomms_common.outbox.models import OutboxMessage
    from tests.conftest import BREAD_AND_ORANGES

    api_client.patch("/customers/me/", {"full_name": "Wanjiru Kamau"}, format="json", **customer())
    verify_phone(customer())
    api_client.post("/orders/", BREAD_AND_ORANGES, format="json", **customer())

    event_customer = OutboxMessage.objects.get(event_type="order.placed").envelope["data"][
        "customer"
    ]
    assert event_customer["full_name"] == "Wanjiru Kamau"
    assert event_customer["phone"] == "+254712345678"


def test_an_over_long_name_is_a_400(api_client, customer) -> None:
    response = api_client.patch(
        "/customers/me/", {"full_name": "x" * 256}, format="json", **customer()
    )

    assert response.status_code == 400
    assert "full_name" in response.json()["error"]["details"]


def test_the_profile_needs_the_customer_role(api_client, admin) -> None:
    assert api_client.get("/customers/me/", **admin).status_code == 403


def test_an_over_long_name_in_the_token_is_cut_to_fit(api_client, customer) -> None:
    response = api_client.get("/customers/me/", **customer(name="N" * 300))

    assert response.status_code == 200
    assert response.json()["full_name"] == "N" * 255


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Wanjiru\r\nTotal: 0.01 USD", "Wanjiru Total: 0.01 USD"),
        ("Wanjiru\nKamau", "Wanjiru Kamau"),
        ("Wanjiru\tKamau\x1b[2J", "Wanjiru Kamau [2J"),
    ],
)
def test_a_name_is_kept_on_one_line(api_client, customer, sent, stored) -> None:
    # the name is written into the admin email: a line break would add lines of its own
    response = api_client.patch("/customers/me/", {"full_name": sent}, format="json", **customer())

    assert response.status_code == 200
    assert response.json()["full_name"] == stored
    assert Customer.objects.get().full_name == stored
