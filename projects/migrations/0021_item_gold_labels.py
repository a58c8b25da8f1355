from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0019_spans"),
    ]

    operations = [
        migrations.AddField(
            model_name="item",
            name="gold_labels",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
