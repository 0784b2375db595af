"""The catalog's bulk price lookup for the benchmark: the tests' stand-in, knowing 100 products."""

from tests.catalog_standin import CatalogStandIn

PRODUCT_COUNT = 100

app = CatalogStandIn()
for product_id in range(1, PRODUCT_COUNT + 1):
    app.add(product_id, f"Product {product_id}", f"{product_id % 17 + 0.99:.2f}")
