import django.db.models.deletion
from django.db import migrations, models

LINKS_TABLE = "catalog_product_categories"


def drop_link_index_on_product(apps, schema_editor):
    """Drop the index on product_id alone: the (product_id, category_id) unique index covers it."""
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(cursor, LINKS_TABLE)
    for name, details in constraints.items():
        if details["index"] and not details["unique"] and details["columns"] == ["product_id"]:
            schema_editor.execute(
                schema_editor.sql_delete_index % {"name": schema_editor.quote_name(name)}
            )


def create_link_index_on_product(apps, schema_editor):
    quote = schema_editor.quote_name
    name = schema_editor._create_index_name(LINKS_TABLE, ["product_id"])
    schema_editor.execute(f"CREATE INDEX {quote(name)} ON {quote(LINKS_TABLE)} (product_id)")


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_price_stat_hot_updates"),
    ]

    operations = [
        # Product.categories keeps its table; it gets a model of its own so that its indexes
        # can be chosen (Django's documented way to give a many-to-many field a through model).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ProductCategory",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "category",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                to="catalog.category",
                            ),
                        ),
                        (
                            "product",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                to="catalog.product",
                            ),
                        ),
                    ],
                    options={
                        "db_table": LINKS_TABLE,
                        "unique_together": {("product", "category")},
                    },
                ),
                migrations.AlterField(
                    model_name="product",
                    name="categories",
                    field=models.ManyToManyField(
                        related_name="products",
                        through="catalog.ProductCategory",
                        to="catalog.category",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(drop_link_index_on_product, create_link_index_on_product),
            ],
        ),
        migrations.AlterField(
            model_name="product",
            name="sku",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AddConstraint(
            model_name="product",
            constraint=models.UniqueConstraint(fields=("sku",), name="product_sku_unique"),
        ),
    ]
