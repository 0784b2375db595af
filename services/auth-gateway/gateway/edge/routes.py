"""Which service answers which path: the first path segment names it.

Catalog reads are public; every other proxied call needs an access token of ours.
"""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Upstream:
    name: str
    url_setting: str
    public_reads: bool

    @property
    def base_url(self) -> str:
        return str(getattr(settings, self.url_setting)).rstrip("/")


CATALOG = Upstream(name="catalog", url_setting="CATALOG_URL", public_reads=True)
ORDERS = Upstream(name="orders", url_setting="ORDERS_URL", public_reads=False)

ROUTES = {
    "products": CATALOG,
    "categories": CATALOG,
    "orders": ORDERS,
    "customers": ORDERS,
}


def route(path: str) -> Upstream | None:
    """Return the service a path belongs to, None for the gateway's own paths."""
    return ROUTES.get(path[1:].partition("/")[0])
