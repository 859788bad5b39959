"""Settings, read from the environment (and an optional `.env` file) with django-environ.

The embedded default needs no environment at all: SQLite under var/, Celery eager, DEBUG on.
Production sets DEBUG=0 and must then provide SECRET_KEY and ALLOWED_HOSTS. Every value is
checked here, so a bad setting stops the process at start-up instead of misbehaving later.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from recommender.engine.families import DEFAULT_FAMILY
from recsite.environment import Environment

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")
env = Environment()

DEBUG = env.bool("DEBUG", default=True)

if DEBUG:
    # Development only: production (DEBUG=0) must set its own key.
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be set (at least 50 characters) when DEBUG=0")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG=0")

# --- HTTPS and cookies: secure by default in production (DEBUG=0) ---------------------------
# Behind a TLS-terminating proxy, set SECURE_PROXY_SSL_HEADER=1 so Django trusts its
# X-Forwarded-Proto header; set SECURE_SSL_REDIRECT=0 when the proxy already redirects.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_results",
    "django_celery_beat",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by WhiteNoise: no CDN
    "axes",
    "recommender",
    "simulation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it locks out a login after repeated failures.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling against password guessing: after AXES_FAILURE_LIMIT failures for one
# username from one address, that pair is locked out for AXES_COOLOFF_MINUTES.
# A limit of 0 would lock everyone out, a cool-off of 0 or less would turn the lockout off.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5, minimum=1, maximum=1000)
AXES_COOLOFF_TIME = (
    env.float("AXES_COOLOFF_MINUTES", default=15, above=0, maximum=7 * 24 * 60) / 60
)  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

ROOT_URLCONF = "recsite.urls"
WSGI_APPLICATION = "recsite.wsgi.application"
ASGI_APPLICATION = "recsite.asgi.application"

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
                "recommender.web.context_processors.access_policy",
            ],
        },
    },
]

# An unset or empty DATABASE_URL means the embedded default.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
# Connections are kept between requests and tasks, on PostgreSQL and SQLite (for 600 s unless
# DATABASE_URL says `?conn_max_age=N`; 0 closes them after each). Django's default opens one
# per request: PostgreSQL forks a server process for each, which at full size doubled an API
# request's time (11-13 ms against 5.4-6.4 ms in process), and SQLite opens the file, runs
# its pragmas, registers Django's functions and reads the schema again, about 1 ms of an API
# request's 1.8 ms of CPU in process on the bundled data (docs/scaling.md).
DATABASES["default"].setdefault("CONN_MAX_AGE", 600)
# The alias a task's progress is written through (recommender.tasks.progress_reporter).
TASK_PROGRESS_DATABASE = "default"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default lives under var/; make sure a fresh checkout can open it.
    VAR_DIR.mkdir(exist_ok=True)
    # One person's demo still writes from several places at once (the web server's logins and
    # review decisions, a simulation round, an import). WAL keeps readers unblocked; write
    # transactions start IMMEDIATE, so a second writer waits for the lock (up to `timeout`
    # seconds) instead of failing with "database is locked" when its read turns into a write
    # (SQLite cannot wait there without risking deadlock, so it refuses at once).
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
    options.setdefault("transaction_mode", "IMMEDIATE")
    options.setdefault(
        "timeout", env.int("SQLITE_BUSY_TIMEOUT_SECONDS", default=30, minimum=1, maximum=600)
    )
else:
    # A task's progress is written through a second connection to the same database: a
    # simulation round is one transaction, and progress written inside it stayed invisible to
    # the page until the round committed. (SQLite has one writer at a time: a second
    # connection would wait for the round's lock, so there progress stays on "default".)
    # Tests mirror it onto the default test database.
    # A kept connection (below) is checked before a request reuses it, so a restarted
    # database costs no failed request.
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # Each of the API's own statements (selectors.serving) is prepared on the server once a
    # connection has run it five times: PostgreSQL then skips parsing and planning it, at
    # full size about 0.8 of the 1.1 ms of database CPU the serving-state query took per
    # request (docs/scaling.md). Django turns psycopg's preparing off unless this is set, for
    # poolers that cannot keep prepared statements (PgBouncer in transaction mode before
    # 1.21 or without max_prepared_statements): `?prepare_threshold=none` in DATABASE_URL.
    # The ORM's cursors bind parameters on the client and never prepare, whatever it says.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
    TASK_PROGRESS_DATABASE = "task_progress"
    DATABASES[TASK_PROGRESS_DATABASE] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Development serves straight from the apps' and project's static folders; production serves
# what collectstatic gathered into STATIC_ROOT.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
if DEBUG:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Every error is {"error": "..."}: what is wrong and with which parameter or id.
    "EXCEPTION_HANDLER": "recommender.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# --- The API's OpenAPI 3 schema (/api/v1/schema/) and its Swagger UI page (/api/v1/docs/) ---
# Both follow the access policy like every API read (recommender.access.may_browse): the
# schema answers an anonymous client 401 in the API's JSON, the page sends it to the login.
SPECTACULAR_SETTINGS = {
    "TITLE": "Film recommender API",
    "VERSION": "1",
    "DESCRIPTION": (
        "Read-only JSON API of the film recommender: a viewer's recommendations, the champion "
        "model, the metric history of simulated rounds and the drift reports.\n\n"
        "Authenticate with a token (`Authorization: Token <key>`; an administrator creates "
        "it) or with a logged-in session of the site. Reviewers and staff read every "
        "endpoint; an account linked to a viewer reads only that viewer's recommendations; "
        "any other account is refused (403), and a request without credentials is answered "
        "401 with `WWW-Authenticate: Token`.\n\n"
        'Every error, whatever its status, has one shape: `{"error": "<what is wrong, and '
        'where>"}`.'
    ),
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "SERVE_PERMISSIONS": ["recommender.api.views.MayBrowse"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Email: reviewers are told when a challenger needs a human decision ---------------------
# EMAIL_URL, e.g. smtp+tls://user:password@mail.example.org:587; the console by default.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="recommender@localhost")
REVIEWER_EMAILS = env.list("REVIEWER_EMAILS", default=["reviewers@localhost"])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# --- Weights & Biases: offline by default, no account or network needed -----------------------
WANDB = {
    "MODE": env.choice("WANDB_MODE", default="offline", choices=("offline", "online", "disabled")),
    "DIR": Path(env.str("WANDB_DIR", default=str(VAR_DIR))),
    "PROJECT": env.str("WANDB_PROJECT", default="film-recommender"),
}

# --- Celery -----------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# Eager by default so the embedded demo needs no broker; a real deployment sets it to 0.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True
# Eager tasks record their state too, so the web page and task_status work in the embedded mode.
CELERY_TASK_STORE_EAGER_RESULT = True
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TRACK_STARTED = True
# Tasks are idempotent (keyed by run id), so a task whose worker died runs again elsewhere;
# one task at a time per worker process, so a redelivery is never stuck behind a prefetch.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# With the Redis broker an unacknowledged task is redelivered after visibility_timeout: every
# task's hard limit stays below it, or a long training would start twice.
_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600, minimum=10)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": _VISIBILITY_TIMEOUT,
    # How often a worker looks for unacknowledged tasks past the timeout (kombu's default sweep
    # is every 100 s): at most a tenth of the timeout, so a short timeout is honoured.
    "unacked_restore_interval": max(1, min(10, _VISIBILITY_TIMEOUT // 10)),
    "unacked_restore_throttle": 1 if _VISIBILITY_TIMEOUT < 1000 else 10,
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": _VISIBILITY_TIMEOUT}
CELERY_TASK_TIME_LIMIT = env.int(
    "CELERY_TASK_TIME_LIMIT", default=max(_VISIBILITY_TIMEOUT - 300, 2), minimum=2
)
CELERY_TASK_SOFT_TIME_LIMIT = env.int(
    "CELERY_TASK_SOFT_TIME_LIMIT", default=max(CELERY_TASK_TIME_LIMIT - 120, 1), minimum=1
)
if not 0 < CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < _VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "need 0 < CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < CELERY_VISIBILITY_TIMEOUT, "
        f"got {CELERY_TASK_SOFT_TIME_LIMIT} < {CELERY_TASK_TIME_LIMIT} < {_VISIBILITY_TIMEOUT}"
    )

# --- The recommender's tunables (defaults from the original proof of concept) ----------------


RECOMMENDER = {
    # The model family `train` (and `retrain --family` by name) trains by default; see
    # docs/evaluation.md for the evidence behind the default.
    "MODEL_FAMILY": env.model_family("MODEL_FAMILY", default=DEFAULT_FAMILY),
    # A viewer with more than this many ratings is served by the model; the rest get the
    # popularity fallback.
    "NEW_USER_THRESHOLD": env.int("NEW_USER_THRESHOLD", default=5, minimum=1),
    "LIST_LENGTH": env.int("LIST_LENGTH", default=100, minimum=1),
    "LIST_BUFFER": env.int("LIST_BUFFER", default=20, minimum=0),
    # Threads that rank chunks of viewers at once in a scoring run; 0 = one per CPU the process
    # may use. 1 (one chunk at a time) by default: with 0, the demo's story test once took
    # another turn (1 failure in 6 runs), a nondeterminism not traced yet (docs/scaling.md).
    "SCORING_THREADS": env.int("SCORING_THREADS", default=1, minimum=0, maximum=256),
    # PostgreSQL only: bulk writes (lists, a round's or an import's ratings, pruning) ask the
    # kernel to write their pages out after every this many kB, so no checkpoint finds hundreds
    # of MB dirty (services.bulk_writes). 0 leaves the server's backend_flush_after (its
    # default: never), as before; 2048 is PostgreSQL's largest.
    "BULK_FLUSH_AFTER_KB": env.int("BULK_FLUSH_AFTER_KB", default=256, minimum=0, maximum=2048),
    "MIN_SEGMENT_SIZE": env.int("MIN_SEGMENT_SIZE", default=100, minimum=1),
    "DRIFT_OVERALL_R2_DROP": env.float(
        "DRIFT_OVERALL_R2_DROP", default=0.02, minimum=0.0, maximum=1.0
    ),
    "DRIFT_GENRE_R2_DROP": env.float("DRIFT_GENRE_R2_DROP", default=0.1, minimum=0.0, maximum=1.0),
    "PROMOTION_TOLERANCE": env.float("PROMOTION_TOLERANCE", default=0.05, minimum=0.0, maximum=1.0),
    "POPULARITY_TRANSFORM": env.choice(
        "POPULARITY_TRANSFORM", default="log", choices=("none", "minmax", "log")
    ),
    # Chosen on the trade-off curve (evaluate --sweep, docs/evaluation.md): with the default
    # family, log 0.02 keeps NDCG@10 within 1 % of no penalty and widens coverage by half
    # (bundled data: 0.251 vs 0.254, 9.3 % vs 5.5 %). The original system's 0.875 is a
    # named option (POPULARITY_ALPHA=0.875): it buried every list in obscure films.
    "POPULARITY_ALPHA": env.float("POPULARITY_ALPHA", default=0.02, minimum=0.0, maximum=100.0),
    "HOLDOUT_SHARE": env.float("HOLDOUT_SHARE", default=0.2, minimum=0.01, maximum=0.9),
    # Which rule judges a round (docs/architecture.md, "Drift"): "reference", the champion's
    # own earlier rounds with a bootstrap test and multiple-testing control; or "benchmark",
    # the original system's training benchmark and thresholds.
    "DRIFT_RULE": env.choice("DRIFT_RULE", default="reference", choices=("reference", "benchmark")),
    # The reference: the first K clean rounds the champion served, or the K most recent.
    "DRIFT_REFERENCE_ROUNDS": env.int("DRIFT_REFERENCE_ROUNDS", default=3, minimum=1, maximum=100),
    "DRIFT_REFERENCE_WINDOW": env.choice(
        "DRIFT_REFERENCE_WINDOW", default="first", choices=("first", "rolling")
    ),
    # Error rate of a round's verdict and its control across segments (family-wise: holm;
    # false discovery rate: bh), and the bootstrap's replicates.
    "DRIFT_ALPHA": env.float("DRIFT_ALPHA", default=0.05, above=0.0, maximum=0.5),
    "DRIFT_CORRECTION": env.choice("DRIFT_CORRECTION", default="holm", choices=("holm", "bh")),
    "DRIFT_BOOTSTRAP_SAMPLES": env.int(
        "DRIFT_BOOTSTRAP_SAMPLES", default=1000, minimum=20, maximum=100_000
    ),
    # How the reference rule's intervals are found: the viewer bootstrap, the analytic
    # (delta-method) interval of the same viewer-clustered statistic, or "auto": analytic once
    # both sides have DRIFT_ANALYTIC_MIN_VIEWERS viewers (the bootstrap's cost grows with
    # viewers x replicates; at 270k viewers it is most of `monitor`).
    "DRIFT_INTERVAL": env.choice(
        "DRIFT_INTERVAL", default="auto", choices=("auto", "bootstrap", "analytic")
    ),
    "DRIFT_ANALYTIC_MIN_VIEWERS": env.int("DRIFT_ANALYTIC_MIN_VIEWERS", default=20_000, minimum=2),
    # Benchmark rule only: the threshold alone (as the original system), or also a bootstrap-
    # significant drop.
    "DRIFT_REQUIRE_SIGNIFICANCE": env.bool("DRIFT_REQUIRE_SIGNIFICANCE", default=False),
    # Share of the recent round held out to compare challenger and champion on.
    "RECENT_HOLDOUT_SHARE": env.float(
        "RECENT_HOLDOUT_SHARE", default=0.3, minimum=0.05, maximum=0.9
    ),
    # Candidates per family (its default plus random points of its search space) tried by
    # `train --search` and `retrain --search`.
    "SEARCH_ITERATIONS": env.int("SEARCH_ITERATIONS", default=8, minimum=1),
    # Lifetime of the model-work lease; a heartbeat renews it every third of that. A holder
    # killed outright frees the work after at most this long.
    "LEASE_SECONDS": env.int("LEASE_SECONDS", default=120, minimum=1),
    # Completed scoring runs kept before the served one by the pruning task (each run is one
    # list per viewer: 436 MB at 270k viewers); the served run and newer ones are always kept.
    "KEEP_SCORING_RUNS": env.int("KEEP_SCORING_RUNS", default=2, minimum=0, maximum=1000),
    # Tests of worker failure only: long work waits at a known point while this file exists.
    "TEST_GATE_FILE": env.str("RECOMMENDER_TEST_GATE_FILE", default=""),
    "ARTIFACT_DIR": Path(env.str("ARTIFACT_DIR", default=str(VAR_DIR / "models"))),
}

SIMULATION = {
    "MAX_INTERACTIONS": env.int("SIM_MAX_INTERACTIONS", default=20, minimum=1),
    "CHOICE_DECAY": env.float("SIM_CHOICE_DECAY", default=0.1, minimum=0.0, maximum=10.0),
    "RATING_SIGMA": env.float("SIM_RATING_SIGMA", default=0.545, minimum=0.001, maximum=10.0),
    "ARRIVAL_SHARE": env.float("SIM_ARRIVAL_SHARE", default=0.05, minimum=0.0, maximum=1.0),
    # Where a simulated viewer's true rating comes from: "oracle", an SVD the served model
    # never sees; "model", the served prediction itself (the original, self-referential mode).
    "TRUTH": env.choice("SIM_TRUTH", default="oracle", choices=("oracle", "model")),
    # How the oracle is trained: "blocked" (the float32 SVD below, its ratings visited in 8x8
    # blocks that two threads train at once, reproducibly), "float32" (surprise's SVD in its
    # visiting order through cornac's compiled kernel, about four times faster than surprise at
    # full size) or "surprise" (surprise's own, as the original system trained it).
    "ORACLE_TRAINER": env.choice(
        "SIM_ORACLE_TRAINER", default="blocked", choices=("blocked", "float32", "surprise")
    ),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {
        "handlers": ["console"],
        "level": env.choice(
            "LOG_LEVEL",
            default="WARNING",
            choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        ),
    },
}
