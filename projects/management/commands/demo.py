from django.core.management.base import BaseCommand

from projects import demo


class Command(BaseCommand):
    help = "Create the demo users and the demo text project (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        project = demo.demo_create()
        from projects import tasks

        tasks.pool_prepare.delay(project.pk)
        self.stdout.write(
            f"Demo project #{project.pk}: log in as 'demo' (lead) or 'alice' / 'bob' "
            f"(annotators) with password '{demo.DEMO_PASSWORD}'."
        )
