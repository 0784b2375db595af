from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notifier", "0002_delivery_sending_lease"),
    ]

    operations = [
        migrations.AddField(
            model_name="inboxevent",
            name="traceparent",
            field=models.CharField(blank=True, default="", max_length=55),
        ),
    ]
