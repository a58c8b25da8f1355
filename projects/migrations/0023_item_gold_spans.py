from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0022_feature_chunk"),
    ]

    operations = [
        migrations.AddField(
            model_name="item",
            name="gold_spans",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
