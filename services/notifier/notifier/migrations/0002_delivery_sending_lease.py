"""Deliveries are claimed (status sending, with a lease in next_attempt_at) before the provider
is called; claims whose lease ran out are due again, so the due index covers both states."""

from django.db import migrations, models


def claims_back_to_pending(apps, schema_editor):
    """Going back: the old code knows no claims; their deliveries are pending again."""
    Delivery = apps.get_model("notifier", "Delivery")
    Delivery.objects.filter(status="sending").update(status="pending")


class Migration(migrations.Migration):
    dependencies = [
        ("notifier", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, claims_back_to_pending),
        migrations.RemoveIndex(
            model_name="delivery",
            name="delivery_due_idx",
        ),
        migrations.AlterField(
            model_name="delivery",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("sending", "Sending"),
                    ("sent", "Sent"),
                    ("failed", "Failed"),
                    ("skipped", "Skipped"),
                ],
                default="pending",
                max_length=10,
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("status__in", ["pending", "sending"])),
                fields=["next_attempt_at"],
                name="delivery_due_idx",
            ),
        ),
    ]
