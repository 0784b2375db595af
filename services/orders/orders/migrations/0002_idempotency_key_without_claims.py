"""Idempotency keys are written with their order only: no running claims, no claim time.

Rows of requests that were still running (or died) under the old claim-first scheme hold no
response; they are deleted, which frees their keys. The defaults given before the columns are
dropped make the migration reversible with rows in the table.
"""

import django.utils.timezone
from django.db import migrations, models


def forget_running_claims(apps, schema_editor):
    IdempotencyKey = apps.get_model("orders", "IdempotencyKey")
    IdempotencyKey.objects.exclude(state="complete").delete()


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_initial")]

    operations = [
        migrations.RunPython(forget_running_claims, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="idempotencykey",
            name="state",
            field=models.CharField(
                choices=[("in_progress", "In Progress"), ("complete", "Complete")],
                default="complete",
                max_length=11,
            ),
        ),
        migrations.AlterField(
            model_name="idempotencykey",
            name="locked_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now,
                help_text="When the request now running under it started.",
            ),
        ),
        migrations.RemoveField(model_name="idempotencykey", name="state"),
        migrations.RemoveField(model_name="idempotencykey", name="locked_at"),
    ]
