from django.core.management.base import BaseCommand

from projects import demo, tasks


class Command(BaseCommand):
    help = "Create the demo users, the demo text project and the digits image project (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        project = demo.demo_create()

        tasks.pool_prepare.delay(project.pk)
        images = demo.demo_images_create()  # its import job is queued for the worker
        self.stdout.write(
            f"Demo project #{project.pk}: log in as 'demo' (lead) or 'alice' / 'bob' "
            f"(annotators) with password '{demo.DEMO_PASSWORD}'. "
            f"Image demo project #{images.pk}: scikit-learn's digits."
        )
