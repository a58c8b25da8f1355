"""Annotation moves from the annotator app to projects; its table stays as it is."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0009_item_project_id'),
        ('annotator', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Annotation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('label', models.CharField(max_length=200)),
                        ('confidence', models.PositiveSmallIntegerField(default=3)),
                        ('seconds', models.FloatField(blank=True, help_text='Time from hand-out to label.', null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('annotator', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='annotations', to=settings.AUTH_USER_MODEL)),
                        ('item', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='annotations', to='projects.item')),
                        ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='projects.project')),
                    ],
                    options={
                        'db_table': 'annotator_annotation',
                        'indexes': [models.Index(fields=['project', 'annotator', '-created_at'], name='annotator_a_project_04ead8_idx')],
                        'constraints': [models.UniqueConstraint(fields=('item', 'annotator'), name='one_annotation_per_item'), models.CheckConstraint(condition=models.Q(('confidence__gte', 1), ('confidence__lte', 5)), name='confidence_1_to_5')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
