"""Winnow settings: one module, driven by environment variables (PRODUCT.md §10).

The defaults need no servers: SQLite under WINNOW_DATA_DIR and a filesystem Celery
broker. DEBUG is off unless set (the README's run command sets it, in development
mode); with DEBUG off the development SECRET_KEY is refused. Production sets
DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY and ALLOWED_HOSTS, and WINNOW_HTTPS once
a TLS proxy serves the site.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from winnow.env import envbool, envint, envlist, envstr

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(envstr("WINNOW_DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

_INSECURE_KEY = "django-insecure-winnow-development-key-change-me"
SECRET_KEY = envstr("SECRET_KEY", _INSECURE_KEY)
DEBUG = envbool("DEBUG", False)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

if not DEBUG and SECRET_KEY == _INSECURE_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY: production refuses the development default.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "csp",
    "axes",
    "projects",
    "annotator",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Turns a view's database connection error into 503 (process_exception); it answers
    # nothing before the view runs.
    "winnow.unavailable.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: it turns a lockout noted during the view into its answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "winnow.urls"
WSGI_APPLICATION = "winnow.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        envstr("DATABASE_URL", f"sqlite:///{DATA_DIR / 'winnow.sqlite3'}"),
        conn_max_age=envint("DB_CONN_MAX_AGE", 60),
        # A kept connection is checked before reuse, so after a database restart only
        # requests already under way see the outage (503), not each process's next one.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take SQLite's write lock up front, so two requests
    # can never read the same free assignment slot and both claim it.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not :memory:) so a worker process and test servers share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG


def _artifact_store() -> dict[str, Any]:
    """WINNOW_ARTIFACTS: `data_dir` (one host), `database` (PostgreSQL), or `s3`."""
    kind = envstr("WINNOW_ARTIFACTS", "data_dir")
    if kind == "data_dir":
        return {"BACKEND": "projects.artifact_stores.DataDirStorage"}
    if kind == "database":
        return {"BACKEND": "projects.artifact_stores.DatabaseStorage"}
    if kind == "s3":  # django-storages (the `s3` extra); credentials from AWS_* variables
        options = {
            "bucket_name": envstr("WINNOW_S3_BUCKET", ""),
            "endpoint_url": envstr("WINNOW_S3_ENDPOINT_URL", "") or None,
            "region_name": envstr("WINNOW_S3_REGION", "") or None,
            "location": envstr("WINNOW_S3_PREFIX", "winnow"),
            "file_overwrite": True,
        }
        if not options["bucket_name"]:
            raise ImproperlyConfigured("WINNOW_ARTIFACTS=s3 needs WINNOW_S3_BUCKET.")
        return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    raise ImproperlyConfigured(f"WINNOW_ARTIFACTS={kind!r}: data_dir, database or s3.")


STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
    # Feature shards, rankings, models: where every web and worker process reads them
    # (projects/artifact_stores.py; README "Several hosts").
    "artifacts": _artifact_store(),
}
# Django's cache holds the member-add throttle's counts and a large pool's counts
# (projects/selectors.py). With WINNOW_CACHE_URL every web process shares one (Redis:
# a database of its own, as clearing a cache empties its whole database); else each
# process keeps its own in memory, and each of them counts and throttles alone. A cache
# that does not answer within a second is given up (a request must not hang on a host
# that is down; dashboards then count without it).
WINNOW_CACHE_URL = envstr("WINNOW_CACHE_URL", "")
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": WINNOW_CACHE_URL,
            "KEY_PREFIX": "winnow",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
        if WINNOW_CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# Media is never served publicly: images go through a view that checks membership.
MEDIA_ROOT = DATA_DIR / "media"
FEATURES_ROOT = DATA_DIR / "features"
MODELS_ROOT = DATA_DIR / "models"
# This process's own copies of what it read from the artifact store (memory-mapped).
WINNOW_CACHE_DIR = Path(envstr("WINNOW_CACHE_DIR", str(DATA_DIR / "cache")))
# A rescore over more unlabeled items than this is split into chunks of this many,
# scored by any free worker (projects/training/chunks.py); below it, one pass.
WINNOW_RESCORE_CHUNK_ITEMS = envint("WINNOW_RESCORE_CHUNK_ITEMS", 100_000)
# A span project's rescore over more sentences than this is split into chunks of this
# many (above 2000, rounded up to whole scoring passes of 2000), scored by any free
# worker (projects/training/spans.py): a CRF scores far fewer sentences a second than a
# linear model scores rows.
WINNOW_SPAN_SCORE_SENTENCES = envint("WINNOW_SPAN_SCORE_SENTENCES", 2000)
# Many items without features are computed by every free worker, in chunks of at most
# this many (projects/pool/feature_chunks.py).
WINNOW_FEATURE_CHUNK_ITEMS = envint("WINNOW_FEATURE_CHUNK_ITEMS", 100_000)

# Sign-in throttling (django-axes): failed sign-ins are counted per name and address and
# per address alone, whether or not the name exists, so a lockout says nothing about
# which names exist. The login page and the token endpoint both call
# authenticate(request=...), which the axes backend checks first.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("WINNOW_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_MINUTES = envint("WINNOW_LOGIN_COOLOFF_MINUTES", 15)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "winnow.signin.lockout_response"
# Which address an attempt comes from (winnow/signin.py): the connection's, or behind a
# proxy the one the proxy appended to X-Forwarded-For.
AXES_CLIENT_IP_CALLABLE = "winnow.signin.client_address"
WINNOW_TRUST_FORWARDED_FOR = envbool("WINNOW_TRUST_FORWARDED_FOR", False)

# Content-Security-Policy (django-csp): our own files only, no inline script or style,
# never framed. The API docs page widens style-src for Swagger UI alone (winnow/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Member additions by a lead who is not staff, per hour (projects/throttles.py).
WINNOW_MEMBER_ADDS_PER_HOUR = envint("WINNOW_MEMBER_ADDS_PER_HOUR", 60)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Uploads: refuse huge bodies early, stream big files to disk.
WINNOW_MAX_UPLOAD_BYTES = envint("WINNOW_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# The cap is enforced while the body is read, before a byte past it is spooled.
FILE_UPLOAD_HANDLERS = [
    "winnow.uploads.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
WINNOW_MAX_TEXT_CHARS = envint("WINNOW_MAX_TEXT_CHARS", 100_000)
WINNOW_LEASE_SECONDS = envint("WINNOW_LEASE_SECONDS", 600)
# Image imports: per-image pixel limit (decompression bombs), ZIP size and entry limits.
WINNOW_MAX_IMAGE_PIXELS = envint("WINNOW_MAX_IMAGE_PIXELS", 40_000_000)
WINNOW_MAX_IMAGE_BYTES = envint("WINNOW_MAX_IMAGE_BYTES", 64 * 1024**2)
WINNOW_MAX_ZIP_BYTES = envint("WINNOW_MAX_ZIP_BYTES", 2 * 1024**3)
WINNOW_MAX_ZIP_FILES = envint("WINNOW_MAX_ZIP_FILES", 100_000)
# Stream decisions on Postgres may skip waiting for the WAL flush (losing at most the
# last fraction of a second of arrivals on a crash, never half of one).
WINNOW_STREAM_ASYNC_COMMIT = envbool("WINNOW_STREAM_ASYNC_COMMIT", True)
# The per-request statements are prepared once per Postgres connection (winnow.db);
# turn off behind a pooler that doesn't keep a session per client (PgBouncer's
# transaction pooling).
WINNOW_DB_PREPARE = envbool("WINNOW_DB_PREPARE", True)
# Run in the worker before each retrain, each called with project=...; the annotator
# app recomputes consensus here (Dawid-Skene needs all annotations at once).
WINNOW_BEFORE_RETRAIN = ["annotator.quality.services.consensus_recompute"]
# The replay job (projects.replay) bounds its cost: labelled pool items it replays (a
# random sample beyond), repeats per strategy, and after how long a job that never
# finished (its worker died, its message was lost) no longer blocks a new one.
WINNOW_REPLAY_MAX_POOL = envint("WINNOW_REPLAY_MAX_POOL", 1000)
WINNOW_REPLAY_REPEATS = envint("WINNOW_REPLAY_REPEATS", 3)
# "full": every strategy with every selector; "axes": one axis at a time (cheaper).
WINNOW_REPLAY_GRID = envstr("WINNOW_REPLAY_GRID", "full")
if WINNOW_REPLAY_GRID not in ("full", "axes"):
    raise ImproperlyConfigured("WINNOW_REPLAY_GRID must be full or axes")
WINNOW_REPLAY_STALE_SECONDS = envint("WINNOW_REPLAY_STALE_SECONDS", 3600)

# The models a lead may choose for a project (setting `estimator`): the only classes a
# worker will build, never a dotted path taken from a request. Each: `path` to a
# scikit-learn classifier with predict_proba, default `params` (the project's
# `estimator_params` go over them), `grid` searched by CV when the project asks
# (`hyperparameter_search`), and a `description`. "logistic_regression" is Winnow's own
# model (strategies.models.LinearModel), whose C is chosen by CV at every retrain.
WINNOW_ESTIMATORS: dict[str, dict[str, Any]] = {
    "logistic_regression": {
        "path": "strategies.models.LinearModel",
        "params": {},
        "grid": {},
        "description": "Winnow's logistic regression (C chosen by CV); all strategies apply.",
    },
    "naive_bayes": {
        "path": "sklearn.naive_bayes.ComplementNB",
        "params": {"alpha": 1.0},
        "grid": {"alpha": [0.1, 0.3, 1.0]},
        "description": "Complement naive Bayes (text counts; non-negative features only).",
    },
    "random_forest": {
        "path": "sklearn.ensemble.RandomForestClassifier",
        "params": {"n_estimators": 100, "n_jobs": 1},
        "grid": {"max_features": ["sqrt", 0.3], "min_samples_leaf": [1, 3]},
        "description": "Random forest (dense or sparse features).",
    },
    "sgd_logistic": {
        "path": "sklearn.linear_model.SGDClassifier",
        "params": {"loss": "log_loss", "alpha": 1e-4},
        "grid": {"alpha": [1e-5, 1e-4, 1e-3]},
        "description": "Logistic regression by SGD (large pools).",
    },
}
# Server-side feature functions a project may name (setting `embedder`); see
# projects.pool.embedders. An example, for a sentence-transformers model saved on disk
# (optional extra `embeddings`; nothing is ever downloaded):
#   WINNOW_EMBEDDERS = {"minilm": {"factory": "strategies.embedders.sentence_transformer",
#       "options": {"model_dir": "/srv/models/all-MiniLM-L6-v2"}, "description": "..."}}
WINNOW_EMBEDDERS: dict[str, dict[str, Any]] = {}
WINNOW_IMAGE_EMBEDDERS: dict[str, dict[str, Any]] = {}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "winnow.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "winnow.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "winnow.negotiation.JSONFirstNegotiation",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "UNAUTHENTICATED_USER": None,
    # `?format=` is the export format, not DRF's renderer override.
    "URL_FORMAT_OVERRIDE": None,
    "EXCEPTION_HANDLER": "winnow.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Winnow API",
    "DESCRIPTION": "Active-learning annotation: projects, import, next item, annotations, "
    "status, export, stream, agreement and review.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Django's <int:...> path converter matches no sign: ids are never negative.
    "PATH_CONVERTER_OVERRIDES": {"int": {"type": "integer", "minimum": 0}},
    # Two operations take an `action` (review, bulk): each enum gets its own name.
    "ENUM_NAME_OVERRIDES": {"BulkActionEnum": "annotator.quality.bulk.BulkAction"},
}

# Celery: Redis in production; a filesystem broker that needs no server by default.
_BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's transport, with each message written whole before it can be read.
    CELERY_BROKER_TRANSPORT = "winnow.filesystem_broker:Transport"
    for _sub in ("queue", "processed", "control"):
        (_BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(_BROKER_DIR / "control"),
    }
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes every database connection around each task (it no longer
# honours CONN_MAX_AGE: celery#9824), so each task connected anew, 5-15 ms for every chunk
# of a rescore on a busy host. It now closes them only every this many tasks; in between,
# a task keeps or drops its connections as a request does (`winnow.celery`).
CELERY_DB_REUSE_MAX = 1000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Publishing gives up quickly when the broker is down: the request that owes the work
# has recorded it, and the worker's sweeper re-sends it later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# How long a requested retrain may stay un-started before the sweeper re-sends it; the
# dashboard calls such a retrain delayed.
WINNOW_RETRAIN_RESEND_SECONDS = envint("WINNOW_RETRAIN_RESEND_SECONDS", 120)
# Each worker raises its CPU niceness to this at start (`winnow.celery`): on a host it
# shares with the web, annotators' requests come before retrains. 0 keeps the worker's.
WINNOW_WORKER_NICE = envint("WINNOW_WORKER_NICE", 10)
# A worker's allocator (glibc) serves arrays up to this size from memory it has freed
# and keeps up to the trim of free memory (`winnow.allocator`); 0 leaves glibc's.
WINNOW_WORKER_MMAP_MB = envint("WINNOW_WORKER_MMAP_MB", 64)
WINNOW_WORKER_TRIM_MB = envint("WINNOW_WORKER_TRIM_MB", 256)
# How often each worker's sweeper looks for owed work (no beat needed).
WINNOW_OWED_SWEEP_SECONDS = envint("WINNOW_OWED_SWEEP_SECONDS", 30)
# A running retrain's worker writes a heartbeat this often; three missed beats mean the
# worker died and another may claim the retrain. A slow retrain that beats is never re-run.
WINNOW_RETRAIN_HEARTBEAT_SECONDS = envint("WINNOW_RETRAIN_HEARTBEAT_SECONDS", 10)
# A retrain that raises is tried this many times in all, waiting backoff * 2**n between.
WINNOW_RETRAIN_ATTEMPTS = envint("WINNOW_RETRAIN_ATTEMPTS", 3)
WINNOW_RETRAIN_BACKOFF_SECONDS = envint("WINNOW_RETRAIN_BACKOFF_SECONDS", 30)

# X-Forwarded-Proto is trusted only from a proxy the operator says sets it (else any
# client could claim a request came over HTTPS).
if envbool("WINNOW_TRUST_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
# HTTPS: on once a TLS proxy serves the site. Off, Winnow works over plain HTTP on a
# private host: Secure cookies would never be sent back and a redirect would point at
# a port nothing serves.
WINNOW_HTTPS = envbool("WINNOW_HTTPS", False)
if WINNOW_HTTPS:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    # django-axes logs every sign-in at INFO; failures and lockouts are warnings.
    "loggers": {"axes": {"level": "WARNING"}},
}
