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
