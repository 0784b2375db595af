import django.db.models.deletion
from django.db import migrations, models

# Every upload rewrites thousands of aggregate rows. With free room on each page PostgreSQL
# updates them in place (heap-only tuples) instead of writing a new index entry per row.
STAT_FILLFACTOR = 50


def set_fillfactor(apps, schema_editor):
    table = apps.get_model("catalog", "CategoryPriceStat")._meta.db_table
    schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {STAT_FILLFACTOR})")


def reset_fillfactor(apps, schema_editor):
    table = apps.get_model("catalog", "CategoryPriceStat")._meta.db_table
    schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="categorypricestat",
            name="category",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="price_stats",
                to="catalog.category",
            ),
        ),
        migrations.RunPython(set_fillfactor, reset_fillfactor),
    ]
