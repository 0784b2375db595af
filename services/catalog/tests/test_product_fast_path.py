"""The product reads' fast path (catalog.api.product_reads) against Django's own answers."""

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from catalog.api.fast_reads import FastReads
from catalog.api.product_reads import PRODUCT_READS
from prometheus_client import REGISTRY

from config.wsgi import django_application
from tests.conftest import product

pytestmark = pytest.mark.django_db

REQUEST_ID = "0b2f8c3e-8d5a-4a51-9d0e-6f1c2b3a4d5e"
CITRUS = ["All Products", "Produce", "Fruits", "Citrus"]
# names and descriptions JSON must escape, or must not: quotes, backslashes, other scripts, the
# line separators DRF's renderer escapes, an emoji
ODD_NAME = 'Blood "Moro" Orange \\ naranja sanguina \u2028 \u2029 \u00e9\u00e8 \u0424 \U0001f34a'


def _answered() -> float:
    """Return how many product reads the fast path has answered itself."""
    return sum(
        REGISTRY.get_sample_value("catalog_product_fast_path_seconds_count", {"read": read}) or 0
        for read in ("detail", "list")
    )


@pytest.fixture
def catalog(upload):
    """Seven products over a small tree, prices with ties, one in two categories."""
    created = upload(
        product(name=ODD_NAME, price="2.00", sku="C-1", paths=[CITRUS]),
        product(name="Lemon", price="3.15", sku="C-2", paths=[CITRUS, ["All Products", "Sale"]]),
        product(name="Kiwi", price="3.15", sku="F-1", paths=[CITRUS[:3]]),
        product(name="Shilling Mango", price="120.00", currency="KES", sku="F-2", paths=[CITRUS]),
        product(name="Rye", price="4.50", sku="B-1", paths=[["All Products", "Bakery"]]),
        product(name="Nothing", price="0.99", sku="N-1", paths=[]),
        product(
            name="Baguette",
            price="3.15",
            sku="B-2",
            description="Line one\nline two\ttabbed",
            paths=[["All Products", "Bakery", "Bread \u00e9pi"]],
        ),
    ).json()["created"]
    return created


def _both(wsgi, path, query="", method="GET", headers=None, peer="127.0.0.1"):
    """Return the served application's answer and Django's own, and whether the first was fast."""
    headers = {"X-Request-ID": REQUEST_ID, **(headers or {})}
    before = _answered()
    served = wsgi(path, query, method, headers, peer=peer)
    fast = _answered() - before
    django = wsgi(path, query, method, headers, application=django_application, peer=peer)
    assert _answered() - before == fast  # Django's answers are not counted as fast ones
    return served, django, fast == 1


def _same(served, django, method="GET"):
    assert served.status == django.status
    assert list(served.headers.items()) == list(django.headers.items())  # in the same order
    if method == "GET":
        assert served.body == django.body
    else:  # Django leaves dropping a HEAD's body to the server; the fast path sends none
        assert served.body == b""
        assert served.headers["Content-Length"] == str(len(django.body))


@pytest.mark.parametrize("index", range(7))
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_product_detail_is_answered_exactly_as_django_does(catalog, wsgi, index, method):
    served, django, fast = _both(wsgi, f"/products/{catalog[index]}/", method=method)

    assert fast
    assert served.status == 200
    _same(served, django, method)
    assert served.headers["ETag"] and served.headers["X-Request-ID"] == REQUEST_ID
    assert served.headers["Allow"] == "GET, DELETE, HEAD, OPTIONS"


def test_the_odd_name_and_the_timestamps_come_back_as_uploaded(catalog, wsgi):
    served, django, fast = _both(wsgi, f"/products/{catalog[0]}/")

    assert fast
    assert served.body == django.body
    assert served.json()["name"] == ODD_NAME
    assert b"\\u2028" in served.body  # as DRF's renderer escapes it
    assert served.json()["price"] == "2.00"
    assert served.json()["created_at"].endswith("Z")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "page_size=2",
        "page_size=500",
        "sort=newest",
        "sort=price&page_size=3",
        "sort=-price&page_size=3",
        "category=all-products",
        "category=fruits&sort=price&page_size=1",
        "category=fruits&sort=-price&page_size=2",
        "category=citrus&sort=newest&page_size=2",
        "category=bread-%C3%A9pi",
        "category=sale",
        "category=",  # an empty category is every product, as the view reads it
        "sort=price&sort=-price&page_size=2",  # the last value counts
        "category=bakery&page_size=2&page_size=1",
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_first_page_is_answered_exactly_as_django_does(catalog, wsgi, query, method):
    served, django, fast = _both(wsgi, "/products/", query, method=method)

    assert fast
    assert served.status == 200
    _same(served, django, method)
    assert served.headers["Allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize(
    "query",
    [
        "page_size=2",
        "sort=price&page_size=2",
        "sort=-price&page_size=3",
        "category=fruits&sort=price&page_size=1",
        "category=all-products&sort=-price&page_size=2",
        "category=all-products&page_size=2",
    ],
)
def test_every_cursor_page_both_ways_is_answered_exactly_as_django_does(catalog, wsgi, query):
    pages, link = [], "?" + query
    while link:  # forwards to the last page, then back to the first
        served, django, fast = _both(wsgi, "/products/", urlsplit(link).query)
        assert fast
        _same(served, django)
        pages.append(served.json())
        link = pages[-1]["next"]
    seen = [item["id"] for page in pages for item in page["results"]]
    assert len(pages) >= 2
    assert len(seen) == len(set(seen))
    link = pages[-1]["previous"]
    while link:
        served, django, fast = _both(wsgi, "/products/", urlsplit(link).query)
        assert fast
        _same(served, django)
        assert "cursor" in parse_qs(urlsplit(link).query)
        link = served.json()["previous"]
    assert served.json()["results"] == pages[0]["results"]


def test_links_name_the_origin_a_trusted_proxy_gives(catalog, wsgi):
    headers = {"X-Forwarded-Host": "localhost:8000", "X-Forwarded-Proto": "https"}

    served, django, fast = _both(wsgi, "/products/", "page_size=2&sort=price", headers=headers)

    assert fast
    _same(served, django)
    assert served.json()["next"].startswith("https://localhost:8000/products/?")


@pytest.mark.parametrize(
    ("case", "path", "query", "method", "headers", "status"),
    [
        ("an unknown product", "/products/999999/", "", "GET", {}, 404),
        ("product 0", "/products/0/", "", "GET", {}, 404),
        ("an id past bigint", f"/products/{2**63}/", "", "GET", {}, None),
        ("a detail with a query", "/products/{id}/", "format=json", "GET", {}, 200),
        ("an unknown format", "/products/{id}/", "format=xml", "GET", {}, 404),
        ("a detail without its slash", "/products/{id}", "", "GET", {}, 308),
        ("a delete", "/products/{id}/", "", "DELETE", {}, 401),
        ("options", "/products/", "", "OPTIONS", {}, 200),
        ("a post", "/products/", "", "POST", {}, 405),
        ("an unknown category", "/products/", "category=nope", "GET", {}, 404),
        ("a NUL in the category", "/products/", "category=a%00b", "GET", {}, 400),
        ("an unknown sort", "/products/", "sort=name", "GET", {}, 400),
        ("a page size of 0", "/products/", "page_size=0", "GET", {}, 400),
        ("a page size too large", "/products/", "page_size=501", "GET", {}, 400),
        ("a forged cursor", "/products/", "cursor=bm90LWEtY3Vyc29y", "GET", {}, 404),
        ("an unknown parameter", "/products/", "q=orange", "GET", {}, 200),
        ("a long query", "/products/", "category=" + "x" * 600, "GET", {}, 404),
        ("a bearer token", "/products/", "", "GET", {"Authorization": "Bearer nope"}, 401),
        ("HTML asked for", "/products/", "", "GET", {"Accept": "text/html"}, 406),
        ("JSON indented", "/products/", "", "GET", {"Accept": "application/json; indent=2"}, 200),
        ("a host not allowed", "/products/", "", "GET", {"Host": "evil.example"}, 400),
        ("a body", "/products/", "", "GET", {"Content-Length": str(64 * 1024 * 1024)}, 413),
        ("an invalid request id", "/products/{id}/", "", "GET", {"X-Request-ID": "no"}, 200),
    ],
)
def test_what_the_fast_path_cannot_answer_django_answers(
    catalog, wsgi, case, path, query, method, headers, status
):
    path = path.replace("{id}", str(catalog[0]))

    served, django, fast = _both(wsgi, path, query, method, headers)

    assert not fast
    if status is not None:
        assert served.status == status
    assert served.status == django.status
    if case != "an invalid request id":  # Django makes a new one for each answer
        assert (served.headers, served.body) == (django.headers, django.body)


def test_a_conditional_read_is_django_s_to_judge(catalog, wsgi):
    path = f"/products/{catalog[1]}/"
    etag = wsgi(path).headers["ETag"]
    before = _answered()

    again = wsgi(path, headers={"If-None-Match": etag})

    assert (again.status, again.body) == (304, b"")
    assert _answered() == before


def test_a_product_changed_since_is_read_afresh_with_another_etag(catalog, wsgi, upload):
    path = f"/products/{catalog[2]}/"
    first = wsgi(path)
    upload(product(name="Kiwi", price="3.50", sku="F-1", paths=[CITRUS[:3]]))

    second = wsgi(path)

    assert (first.json()["price"], second.json()["price"]) == ("3.15", "3.50")
    assert first.headers["ETag"] != second.headers["ETag"]


def _fast_path_log(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "catalog.api.product_reads"]


def test_the_setting_switches_the_product_reads_off_and_says_so_once(
    catalog, wsgi, settings, caplog
):
    caplog.set_level(logging.INFO, logger="catalog.api.product_reads")
    settings.CATALOG_PRODUCT_FAST_PATH = False
    before = _answered()

    answers = [wsgi("/products/"), wsgi(f"/products/{catalog[0]}/"), wsgi("/products/")]

    assert [answer.status for answer in answers] == [200, 200, 200]
    assert _answered() == before
    (record,) = _fast_path_log(caplog)
    assert record.levelno == logging.INFO
    assert "CATALOG_PRODUCT_FAST_PATH" in record.getMessage()
    # average_price, a fast path of its own, still answers ahead of Django
    assert wsgi("/categories/fruits/average_price/").status == 200


def test_other_middleware_turns_the_product_reads_off_with_a_warning(
    catalog, wsgi, settings, caplog
):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]
    caplog.clear()

    started = FastReads(django_application, [PRODUCT_READS])

    assert not started.enabled
    (warning,) = _fast_path_log(caplog)
    assert warning.levelno == logging.WARNING
    assert "VERIFIED_MIDDLEWARE" in warning.getMessage()
    before = _answered()
    assert wsgi("/products/", application=started).status == 200
    assert _answered() == before


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_database_is_a_503_and_the_next_read_recovers(upload, wsgi, database_proxy):
    from django.db import close_old_connections

    [created] = upload(product(price="2.00", paths=[CITRUS])).json()["created"]
    path = f"/products/{created}/"
    assert wsgi(path).json()["id"] == created
    database_proxy.cut()

    down = wsgi(path)

    assert (down.status, down.json()["error"]["code"]) == (503, "database_unavailable")
    database_proxy.restore()
    close_old_connections()  # what the request signals do between two requests
    before = _answered()
    assert wsgi("/products/", "category=citrus").json()["results"][0]["id"] == created
    assert _answered() == before + 1
