"""Annotation now lives in projects (projects 0010); the table is kept, only the state moves."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('annotator', '0001_initial'),
        ('projects', '0010_annotation'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='Annotation')],
            database_operations=[],
        ),
    ]
