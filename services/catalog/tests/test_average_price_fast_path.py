"""The fast path (catalog.api.average_price.AveragePriceFastPath) against Django's own answers."""

import logging
import re
import time
import uuid

import pytest
from catalog.api.average_price import VERIFIED_MIDDLEWARE, AveragePriceFastPath
from django.db import connection
from prometheus_client import REGISTRY

from config.wsgi import application as served_application
from config.wsgi import django_application
from tests.conftest import other_session, product

pytestmark = pytest.mark.django_db

CITRUS = ["All Products", "Produce", "Fruits", "Citrus"]
REQUEST_ID = "0b2f8c3e-8d5a-4a51-9d0e-6f1c2b3a4d5e"


def _answered() -> float:
    """Return how many reads the fast path has answered itself."""
    return REGISTRY.get_sample_value("catalog_average_price_fast_path_seconds_count") or 0.0


@pytest.fixture
def catalog(upload):
    upload(
        product(price="2.00", paths=[CITRUS]),
        product(price="3.15", paths=[["All Products", "Produce", "Fruits"]]),
        product(price="120.00", currency="KES", paths=[CITRUS]),
    )


def _both(wsgi, path, query="", method="GET", headers=None, peer="127.0.0.1"):
    """Return the served application's answer and Django's own, and whether the first was fast."""
    before = _answered()
    served = wsgi(path, query, method, headers, peer=peer)
    fast = _answered() - before
    django = wsgi(path, query, method, headers, application=django_application, peer=peer)
    assert _answered() - before == fast  # Django's answers are not counted as fast ones
    return served, django, fast == 1


@pytest.mark.parametrize(
    ("slug", "query", "method"),
    [
        ("fruits", "", "GET"),
        ("all-products", "", "GET"),
        ("citrus", "currency=KES", "GET"),
        ("fruits", "include_descendants=false", "GET"),
        ("fruits", "include_descendants=0&currency=USD", "GET"),
        ("fruits", "include_descendants=True", "GET"),
        ("fruits", "currency=KES&currency=USD&unknown=1", "GET"),  # the last value counts
        ("bakery-none", "", "GET"),
        ("fruits", "", "HEAD"),
    ],
)
def test_the_fast_path_answers_a_read_exactly_as_django_does(catalog, wsgi, slug, query, method):
    if slug == "bakery-none":  # a category with no product in the currency
        slug = "produce"
        query = "currency=EUR"
    path = f"/categories/{slug}/average_price/"

    served, django, fast = _both(wsgi, path, query, method, {"X-Request-ID": REQUEST_ID})

    assert fast
    assert (served.status, served.headers) == (django.status, django.headers)
    assert served.headers["X-Request-ID"] == REQUEST_ID
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    if method == "GET":
        assert served.body == django.body
    else:  # Django leaves dropping a HEAD's body to the server; the fast path sends none
        assert served.body == b""
        assert served.headers["Content-Length"] == str(len(django.body))


@pytest.mark.parametrize(
    ("case", "query", "headers", "status"),
    [
        ("unknown slug", "", {}, 404),
        ("lower-case currency", "currency=usd", {}, 400),
        ("not a boolean", "include_descendants=maybe", {}, 400),
        ("host not allowed", "", {"Host": "evil.example"}, 400),
        ("a long query", "currency=USD&" + "x=1&" * 60, {}, 200),
        ("a non-ASCII query", "currency=%C3%A9&q=\u00e9", {}, 400),
        ("a body over the limit", "", {"Content-Length": str(64 * 1024 * 1024)}, 413),
        ("a Content-Length that is no number", "", {"Content-Length": "many"}, 400),
        ("a refused user agent", "", {"User-Agent": "BadBot/1.0"}, 403),
    ],
)
def test_what_the_fast_path_cannot_answer_django_answers(
    catalog, wsgi, settings, case, query, headers, status
):
    if case == "a refused user agent":
        settings.DISALLOWED_USER_AGENTS = [re.compile(r"badbot", re.IGNORECASE)]
    slug = "nope" if case == "unknown slug" else "fruits"
    path = f"/categories/{slug}/average_price/"

    served, django, fast = _both(wsgi, path, query, headers={"X-Request-ID": REQUEST_ID, **headers})

    assert not fast
    assert served.status == status
    assert (served.status, served.headers, served.body) == (
        django.status,
        django.headers,
        django.body,
    )
    if status != 200:
        assert served.json()["error"]["code"] in {
            "not_found",
            "invalid",
            "bad_request",
            "payload_too_large",
            "permission_denied",
        }


@pytest.mark.parametrize(
    ("case", "peer", "headers", "status", "fast"),
    [
        # The gateway on loopback (TRUSTED_PROXY_NETWORKS) names the public origin: answered here.
        (
            "a trusted proxy",
            "127.0.0.1",
            {"X-Forwarded-Host": "localhost:8000", "X-Forwarded-Proto": "https"},
            200,
            True,
        ),
        (
            "a trusted proxy's host not allowed",
            "::1",
            {"X-Forwarded-Host": "evil.example"},
            400,
            False,
        ),
        # From anyone else the forwarded host is removed before Django reads it, so Django judges
        # the Host header: an allowed forwarded host must not let a refused Host through here.
        (
            "an untrusted peer's allowed host",
            "203.0.113.7",
            {"Host": "evil.example", "X-Forwarded-Host": "localhost"},
            400,
            False,
        ),
        (
            "an untrusted peer's refused host",
            "203.0.113.7",
            {"X-Forwarded-Host": "evil.example", "Forwarded": "host=evil.example"},
            200,
            False,
        ),
        ("no peer address", "", {"X-Forwarded-Proto": "https"}, 200, False),
        ("an untrusted peer without forwarding", "203.0.113.7", {}, 200, True),
    ],
)
def test_forwarding_headers_are_trusted_only_from_trusted_proxies(
    catalog, wsgi, case, peer, headers, status, fast
):
    served, django, was_fast = _both(
        wsgi,
        "/categories/fruits/average_price/",
        headers={"X-Request-ID": REQUEST_ID, **headers},
        peer=peer,
    )

    assert was_fast is fast
    assert served.status == status
    assert (served.status, served.headers, served.body) == (
        django.status,
        django.headers,
        django.body,
    )


def test_a_request_id_is_kept_when_valid_and_made_otherwise(catalog, wsgi):
    path = "/categories/fruits/average_price/"
    first, second = wsgi(path), wsgi(path)
    made = {first.headers["X-Request-ID"], second.headers["X-Request-ID"]}
    assert len(made) == 2
    assert all(uuid.UUID(value).version == 4 for value in made)
    assert first.headers["Access-Control-Expose-Headers"] == "X-Request-ID"

    before = _answered()
    replaced = wsgi(path, headers={"X-Request-ID": "not-a-uuid"})
    assert _answered() == before  # django-guid refuses it, and logs why
    assert replaced.status == 200
    assert replaced.headers["X-Request-ID"] != "not-a-uuid"


def test_settings_that_make_the_headers_vary_by_request_turn_the_fast_path_off(
    catalog, wsgi, settings
):
    path = "/categories/fruits/average_price/"
    assert wsgi(path).status == 200
    for name, value, default in (
        ("SECURE_SSL_REDIRECT", True, False),
        ("SECURE_HSTS_SECONDS", 3600, 0),
        ("PREPEND_WWW", True, False),
    ):
        setattr(settings, name, value)
        served, django, fast = _both(wsgi, path)
        assert not fast
        assert (served.status, served.body) == (django.status, django.body)
        setattr(settings, name, default)
    before = _answered()
    settings.ALLOWED_HOSTS = ["catalog.internal"]  # the host the last reads used is now refused
    assert wsgi(path).status == 400
    assert wsgi(path, headers={"Host": "catalog.internal"}).status == 200
    assert _answered() == before + 1


def test_the_read_is_a_prepared_statement_of_the_connection(catalog, wsgi):
    assert wsgi("/categories/fruits/average_price/").status == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    assert any("catalog_categorypricestat" in statement for statement in statements)


def test_the_fast_path_is_measured_in_metrics(catalog, wsgi):
    wsgi("/categories/fruits/average_price/")
    metrics = wsgi("/metrics").body.decode()
    assert "catalog_average_price_fast_path_seconds_count" in metrics


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_database_is_a_503_and_the_next_read_recovers(upload, wsgi, database_proxy):
    from django.db import close_old_connections

    upload(product(price="2.00", paths=[CITRUS]))
    path = "/categories/fruits/average_price/"
    assert wsgi(path).json()["product_count"] == 1
    database_proxy.cut()

    down = wsgi(path)

    assert (down.status, down.json()["error"]["code"]) == (503, "database_unavailable")
    database_proxy.restore()
    close_old_connections()  # what the request signals do between two requests
    before = _answered()
    assert wsgi(path).json()["product_count"] == 1
    assert _answered() == before + 1


def test_a_connection_past_its_max_age_is_replaced_as_django_would(catalog, wsgi):
    path = "/categories/fruits/average_price/"
    assert wsgi(path).status == 200
    backend = connection.connection.info.backend_pid
    assert wsgi(path).status == 200
    assert connection.connection.info.backend_pid == backend  # kept between reads
    connection.close_at = time.monotonic() - 1  # CONN_MAX_AGE has run out

    assert wsgi(path).json()["product_count"] == 2

    assert connection.connection.info.backend_pid != backend


def test_a_migration_that_changes_the_read_columns_costs_no_error(catalog, wsgi):
    path = "/categories/fruits/average_price/"
    assert wsgi(path).status == 200  # prepared on this connection
    backend = connection.connection.info.backend_pid
    alter = "ALTER TABLE catalog_categorypricestat ALTER COLUMN subtree_sum TYPE numeric({}, 2)"
    with other_session() as other:
        other.execute(alter.format(25))
        try:
            before = _answered()
            answer = wsgi(path)
            replaced_by = connection.connection.info.backend_pid
        finally:
            connection.close()
            other.execute(alter.format(24))

    assert (answer.status, answer.json()["product_count"]) == (200, 2)
    assert _answered() == before + 1  # the fast path itself read again, on a new connection
    assert replaced_by != backend


def test_the_middleware_is_the_list_the_fast_path_was_verified_against(settings):
    assert list(settings.MIDDLEWARE) == list(VERIFIED_MIDDLEWARE), (
        "MIDDLEWARE changed (in libs/common's base_settings.py or the catalog's config/settings.py)"
        ", so the average_price fast path now steps aside and Django answers every read. "
        "Re-verify AveragePriceFastPath against the new list (what does each middleware change "
        "in a successful read's answer?), then set VERIFIED_MIDDLEWARE in "
        "catalog/api/average_price.py to it."
    )
    assert served_application.enabled


def _fast_path_log(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "catalog.api.average_price"]


@pytest.mark.parametrize(
    "change",
    ["the setting is off", "a middleware is added", "a middleware is removed", "the order differs"],
)
def test_the_fast_path_steps_aside_when_switched_off_or_the_middleware_is_not_the_verified_one(
    catalog, wsgi, settings, caplog, change
):
    path = "/categories/fruits/average_price/"
    expected = wsgi(path, application=django_application).json()
    caplog.set_level(logging.INFO, logger="catalog.api.average_price")
    middleware = list(settings.MIDDLEWARE)
    if change == "the setting is off":
        settings.CATALOG_AVERAGE_PRICE_FAST_PATH = False
    elif change == "a middleware is added":
        settings.MIDDLEWARE = [*middleware, "django.middleware.gzip.GZipMiddleware"]
    elif change == "a middleware is removed":
        settings.MIDDLEWARE = [name for name in middleware if "SecurityMiddleware" not in name]
    else:
        settings.MIDDLEWARE = [middleware[1], middleware[0], *middleware[2:]]
    before = _answered()

    answers = [wsgi(path) for _ in range(3)]

    assert _answered() == before  # Django answered every one
    assert all(answer.status == 200 for answer in answers)
    assert all(answer.json() == expected for answer in answers)
    assert expected["product_count"] == 2
    (record,) = _fast_path_log(caplog)  # once, not once a read
    if change == "the setting is off":
        assert record.levelno == logging.INFO
        assert "CATALOG_AVERAGE_PRICE_FAST_PATH" in record.getMessage()
    else:
        assert record.levelno == logging.WARNING
        assert "VERIFIED_MIDDLEWARE" in record.getMessage()


def test_the_fast_path_answers_again_once_the_verified_middleware_is_back(catalog, wsgi, settings):
    path = "/categories/fruits/average_price/"
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]
    before = _answered()
    assert wsgi(path).status == 200
    assert _answered() == before

    settings.MIDDLEWARE = list(VERIFIED_MIDDLEWARE)

    assert wsgi(path).status == 200
    assert _answered() == before + 1


def test_a_fast_path_started_with_other_middleware_warns_once_and_passes_every_read_on(
    catalog, wsgi, settings, caplog
):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]
    caplog.clear()  # what the served application said about the change

    started = AveragePriceFastPath(django_application)

    (warning,) = _fast_path_log(caplog)
    assert warning.levelno == logging.WARNING
    before = _answered()
    for query in ("", "currency=KES", "include_descendants=false"):
        answer = wsgi("/categories/fruits/average_price/", query, application=started)
        assert answer.status == 200
    assert _answered() == before
    assert len(_fast_path_log(caplog)) == 1
