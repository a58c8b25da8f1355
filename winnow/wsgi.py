import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "winnow.settings")
application = get_wsgi_application()

# Load the URL conf, and with it every view, service and the strategy library
# (scikit-learn) at start-up (once, in gunicorn's master with --preload), not in the
# first request that opens a batch while other annotators wait for it.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018

# Likewise the Celery app and the broker's transport, which the first task a web process
# sends (a batch's retrain) would otherwise load inside that request.
from winnow.celery import app as celery_app  # noqa: E402

celery_app.finalize(auto=True)
celery_app.connection_for_write().release()  # imports the transport; connects on first send
