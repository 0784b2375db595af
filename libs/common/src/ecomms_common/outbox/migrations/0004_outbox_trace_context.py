from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ecomms_outbox", "0003_outbox_parked"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboxmessage",
            name="traceparent",
            field=models.CharField(blank=True, default="", max_length=55),
        ),
        migrations.AddField(
            model_name="outboxmessage",
            name="tracestate",
            field=models.CharField(blank=True, default="", max_length=512),
        ),
    ]
