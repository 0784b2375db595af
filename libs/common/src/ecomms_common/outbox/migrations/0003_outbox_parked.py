from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ecomms_outbox", "0002_outbox_next_attempt_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboxmessage",
            name="parked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="outboxmessage",
            name="parked_reason",
            field=models.TextField(blank=True),
        ),
    ]
