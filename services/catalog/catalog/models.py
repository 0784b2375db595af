from django.contrib.postgres.indexes import BTreeIndex
from django.db import models
from django.db.models import F
from django.db.models.functions import Lower
from mptt.models import MPTTModel, TreeForeignKey

PRICE_MAX_DIGITS = 12
PRICE_DECIMAL_PLACES = 2


class Category(MPTTModel):
    """A node of the category tree; its slug never changes once assigned."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=255, unique=True, allow_unicode=True)
    parent = TreeForeignKey(
        "self", null=True, blank=True, related_name="children", on_delete=models.PROTECT
    )

    class Meta:
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                "parent",
                name="category_sibling_name_unique_ci",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["tree_id", "lft", "rght"], name="category_subtree_idx")]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=PRICE_MAX_DIGITS, decimal_places=PRICE_DECIMAL_PLACES)
    currency = models.CharField(max_length=3)
    # Unique by a constraint rather than unique=True, which on PostgreSQL adds a second index
    # (for LIKE) that every insert pays for and nothing uses. NULL, not "", for no sku: many
    # products may have none.
    sku = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    categories = models.ManyToManyField(
        Category, related_name="products", through="ProductCategory"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(price__gt=0), name="product_price_positive"),
            models.UniqueConstraint(fields=["sku"], name="product_sku_unique"),
        ]
        # the whole catalog by price; a category's products by price use SubtreeProduct
        indexes = [models.Index(fields=["price", "id"], name="product_price_idx")]

    def __str__(self) -> str:
        return self.name


class ProductCategory(models.Model):
    """A product's link to one of its categories: the table behind Product.categories."""

    # No index of its own: the (product, category) unique index serves lookups by product.
    product = models.ForeignKey(Product, on_delete=models.CASCADE, db_index=False)
    category = models.ForeignKey(Category, on_delete=models.CASCADE)

    class Meta:
        db_table = "catalog_product_categories"
        unique_together = [("product", "category")]

    def __str__(self) -> str:
        return f"{self.product_id} in {self.category_id}"


class CategoryPriceStat(models.Model):
    """Count and sum of the distinct products of one currency in a category.

    ``subtree_*`` covers the category and every descendant (a product counted once however many
    of the subtree's categories it is in); ``own_*`` covers the category alone. Kept exact by every
    write in catalog.services, in the same transaction; check_catalog recomputes and compares.
    """

    # No index of its own: price_stat_unique (category, currency) serves lookups by category.
    category = models.ForeignKey(
        Category, on_delete=models.CASCADE, related_name="price_stats", db_index=False
    )
    currency = models.CharField(max_length=3)
    subtree_count = models.BigIntegerField(default=0)
    subtree_sum = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    own_count = models.BigIntegerField(default=0)
    own_sum = models.DecimalField(max_digits=24, decimal_places=2, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["category", "currency"], name="price_stat_unique")
        ]

    def __str__(self) -> str:
        return f"{self.category_id}/{self.currency}: {self.subtree_count}"


class SubtreeProduct(models.Model):
    """A product listed under one category whose subtree holds it: the browse index.

    One row per (category, product) for the category itself and every ancestor of each of the
    product's categories, a product once per category however many of its categories lie below.
    Pages of a subtree are then one range of one index newest first, or by price a short range
    per epoch of product ids, whatever the subtree's size (catalog.storage.listing). Kept exact
    by every write in catalog.services, in the same transaction; check_catalog recomputes and
    compares. No foreign keys: the rows go with the product's links, which every write replaces
    through catalog.listing.
    """

    pk = models.CompositePrimaryKey("category_id", "product_id")
    category_id = models.BigIntegerField()
    product_id = models.BigIntegerField()
    # whole cents: a bigint compares and loads faster than a numeric in the index every upload grows
    price_cents = models.BigIntegerField()

    class Meta:
        db_table = "catalog_subtree_product"
        # by price within each epoch of product ids (catalog.storage.listing.EPOCH_BITS); keys
        # are unique, so no deduplication pass before each page split
        indexes = [
            BTreeIndex(
                F("category_id"),
                F("product_id").bitrightshift(16),
                F("price_cents"),
                F("product_id"),
                name="subtree_product_epoch_price_idx",
                deduplicate_items=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.product_id} under {self.category_id}"
