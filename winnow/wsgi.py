import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "winnow.settings")
application = get_wsgi_application()

# The strategy library (scikit-learn) is needed on the request path whenever an annotator's
# request opens the next batch. Imported lazily, it cost that request about a second in
# each new web process while every annotator waiting for the batch waited too; imported
# here it loads at start-up (once, in gunicorn's master with --preload).
import projects.selection  # noqa: E402, F401
import strategies.selection  # noqa: E402, F401

# Likewise the first task a web process sends (a batch's retrain) finalized the Celery app
# and imported the broker's transport: a third of a second inside that request.
from winnow.celery import app as celery_app  # noqa: E402

celery_app.finalize(auto=True)
celery_app.connection_for_write().release()  # imports the transport; connects on first send
