"""Run the embedded default: migrate, load the demo, then web server and worker together."""

import signal
import subprocess
import sys
from types import FrameType
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

WORKER_STOP_SECONDS = 20


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (a service manager, `kill`) unwinds like Ctrl+C, so the worker is stopped too."""
    raise SystemExit(128 + signum)


class Command(BaseCommand):
    help = "Migrate, create the demo project, and run the web server with a Celery worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addrport", default="127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("demo")
        # No beat: the worker re-sends owed work itself (`projects.training.sweeper`).
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "winnow", "worker"]
            + ["--pool", "solo", "--loglevel", "INFO"],
        )
        self.stdout.write(
            f"Winnow is at http://{options['addrport']}/  (Ctrl+C stops web and worker)"
        )
        try:
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not orphan it
            _worker_stop(worker)


def _worker_stop(worker: "subprocess.Popen[bytes]") -> None:
    """Warm shutdown (the running task finishes or goes back to the queue), then kill."""
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=WORKER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
