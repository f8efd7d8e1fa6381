"""Settings, read from the environment with plain defaults for the embedded set-up."""

import datetime as dt
import json
import os
import secrets
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("REGISTRY_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name, default=False):
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_float(name, default):
    """A number from the environment; an empty value gives None (that bound is not checked)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return float(raw) if raw.strip() else None


def env_list(name, default):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _secret_key():
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    # The embedded set-up keeps a generated key on disk so sessions survive restarts.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",  # API tokens: see the API token block below
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "django_celery_results",
    "axes",
    "registry",
    "imaging",
    "research",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.permissions_policy.PermissionsPolicyMiddleware",  # before WhiteNoise: static files get it too
    "config.csp.content_security_policy",  # above WhiteNoise, so static files carry the policy too
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "registry.middleware.RecordLockedMiddleware",
    "config.session_lifetime.SessionLifetimeMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

# ---- Content-Security-Policy (config/csp.py sends it on every response) -------------------
# Every script, stylesheet, image and font comes from the app itself: no inline script, no event
# handler attribute, no eval, no inline style. Each source below says which page needs it.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",  # fonts, media, workers, manifests: only from the app
        # Scripts are files under /static/. NiiVue reads NIfTI without WebAssembly, so not even
        # 'wasm-unsafe-eval' is needed (it would be for NiiVue's WebAssembly decoders of other formats).
        "script-src 'self'",
        "style-src 'self'",
        # data: the viewer's font atlas (NiiVue) and Swagger UI's icons are data: images.
        "img-src 'self' data:",
        "connect-src 'self'",  # fetches: scan status, the viewer's maps, the API schema
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Persistent connections: each gunicorn thread and Celery worker keeps its database connection for up
# to DATABASE_CONN_MAX_AGE seconds (default 600) instead of opening one per request. Opening a
# PostgreSQL connection (TCP, authentication, a new backend process) costs more than the queries of
# most pages; keeping it halves the API's throughput under load. With the health check, a request
# that reuses a kept connection first tests it (`SELECT 1`, a fraction of a millisecond) and opens a
# new one if it is dead, so a database restart or a dropped connection fails no request.
# DATABASE_CONN_MAX_AGE=0 opens a connection per request again.
# Each thread holds one connection: PostgreSQL's max_connections must exceed the sum of gunicorn
# workers × threads and Celery worker processes over every machine.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'registry.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "600")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Web server and worker share the file: wait for a lock rather than fail.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
# Scans and maps: local disk by default; S3-compatible object storage when S3_BUCKET is set
# (several machines: the web servers and every worker then share the bucket).
if os.environ.get("S3_BUCKET"):
    DEFAULT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["S3_BUCKET"],
            "endpoint_url": os.environ.get("S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("S3_REGION") or None,
            "access_key": os.environ.get("S3_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("S3_SECRET_ACCESS_KEY") or None,
            "location": os.environ.get("S3_PREFIX", ""),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    DEFAULT_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

# ---- Security: sign-in throttling, password hashing, sessions, HTTPS, headers ----------------
# Sign-in (pages, admin, API token): a username from one address is locked for
# LOGIN_LOCKOUT_MINUTES after LOGIN_FAILURE_LIMIT wrong passwords; while locked, the right
# password is refused too. Every authenticate() that carries a request is counted (AxesStandaloneBackend).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "registry.account.AccountBackend",  # Django's ModelBackend, reading an account's roles in one query
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = dt.timedelta(minutes=int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # every failure kept for the audit, locked or not
AXES_LOCKOUT_CALLABLE = "registry.signin.lockout_response"
AXES_ENABLE_ADMIN = False  # registry/admin.py shows the records read-only
# Behind TRUSTED_PROXIES reverse proxies the client's address is read from X-Forwarded-For.
# Test–retest coefficient of variation of FA within this site (%): a change of FA since baseline is
# marked when it exceeds 1.96 × √2 × CV × baseline (registry/quantities.py cites the default's source).
FA_TEST_RETEST_CV_PERCENT = float(os.environ.get("FA_TEST_RETEST_CV_PERCENT", "2.0"))
# {instrument code: {GMFCS level: points}}: the change of a score that counts as clinically important,
# entered by the site from its source (registry/quantities.py cites the GMFM-66 paper), as JSON, e.g.
# GMFM_MCID='{"GMFM-66": {"1": 1.5, "2": 1.2, "3": 1.3}}'. Empty: score changes carry no mark.
GMFM_MCID = {
    code: {int(level): float(points) for level, points in levels.items()}
    for code, levels in json.loads(os.environ.get("GMFM_MCID", "{}")).items()
}
# Data-quality rules (registry/quality.py), run after every clinical write and nightly. The dose range
# is the site's protocol setting (cells/kg of body weight, from the product's count and the weight on
# the day); the defaults are a wide plausibility band, not a protocol: set them from your own protocol.
# Empty minimum or maximum: that side is not checked; empty CD34+ range: CD34+/kg is not checked.
QUALITY_TNC_PER_KG_RANGE = (
    env_float("QUALITY_TNC_PER_KG_MIN", 1e6),
    env_float("QUALITY_TNC_PER_KG_MAX", 5e8),
)
QUALITY_CD34_PER_KG_RANGE = (
    env_float("QUALITY_CD34_PER_KG_MIN", None),
    env_float("QUALITY_CD34_PER_KG_MAX", None),
)
# A fall of a GMFM score between consecutive visits larger than this (points) is queried as implausible.
QUALITY_SCORE_DROP_POINTS = dict.fromkeys(("GMFM-88", "GMFM-66"), env_float("QUALITY_GMFM_DROP_POINTS", 20.0))
# A change of body weight larger than this (%) between records within QUALITY_WEIGHT_WINDOW_DAYS is queried.
QUALITY_WEIGHT_CHANGE_PERCENT = env_float("QUALITY_WEIGHT_CHANGE_PERCENT", 20.0)
QUALITY_WEIGHT_WINDOW_DAYS = int(os.environ.get("QUALITY_WEIGHT_WINDOW_DAYS", "31"))
# The nightly run of every rule over every patient (celery beat; also `manage.py run_quality_rules`).
QUALITY_NIGHTLY_HOUR = int(os.environ.get("QUALITY_NIGHTLY_HOUR", "2"))
TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
if TRUSTED_PROXIES:
    AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXIES
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
# Argon2 first; PBKDF2 hashes still verify and are rehashed with Argon2 at the next sign-in.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]
# Sessions end after SESSION_IDLE_MINUTES without a request, and SESSION_MAX_HOURS after sign-in
# whatever the activity (config.session_lifetime).
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_MINUTES", "30")) * 60
# The idle timeout is renewed by a write of the session only once it would move by this step (seconds),
# not on every request: an idle session ends up to this much before SESSION_IDLE_MINUTES, never after.
# A minute, or a tenth of the idle timeout if that is shorter.
SESSION_RENEW_STEP = min(60, SESSION_COOKIE_AGE // 10)
SESSION_ENGINE = "config.sessions"
SESSION_MAX_AGE = int(os.environ.get("SESSION_MAX_HOURS", "12")) * 3600
# Features no page uses are switched off for every response (config.permissions_policy).
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), encrypted-media=(), fullscreen=(self), "
    "geolocation=(), gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), "
    "picture-in-picture=(), publickey-credentials-get=(), screen-wake-lock=(), usb=(), xr-spatial-tracking=()"
)
WHITENOISE_ALLOW_ALL_ORIGINS = False  # no Access-Control-Allow-Origin: * on /static/
# HTTPS=true behind a TLS-terminating proxy that sets X-Forwarded-Proto: secure cookies, HSTS, redirect.
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
# The demo (seed_demo) loads with DEBUG=false only when asked: LOAD_DEMO=true or --allow-production.
LOAD_DEMO = env_bool("LOAD_DEMO", False)
# ---- end of Security -------------------------------------------------------------------------

# Uploads stream to temporary files on disk, never wholly into memory.
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.TemporaryFileUploadHandler"]
FILE_UPLOAD_TEMP_DIR = os.environ.get("FILE_UPLOAD_TEMP_DIR") or None
MEDIA_URL = "/media/"  # served by the app to signed-in users only (imaging.views.media)

# Diffusion scans: limits checked before anything is queued.
IMAGING_MAX_UPLOAD_BYTES = int(os.environ.get("IMAGING_MAX_UPLOAD_MB", "2048")) * 1024 * 1024
IMAGING_MAX_DATA_BYTES = int(os.environ.get("IMAGING_MAX_DATA_MB", "4096")) * 1024 * 1024
IMAGING_MAX_SPATIAL_DIM = int(os.environ.get("IMAGING_MAX_SPATIAL_DIM", "512"))
IMAGING_MAX_VOLUMES = int(os.environ.get("IMAGING_MAX_VOLUMES", "400"))
IMAGING_STAGING_DIR = Path(os.environ.get("IMAGING_STAGING_DIR", VAR_DIR / "staging"))
IMAGING_STAGING_DIR.mkdir(parents=True, exist_ok=True)
# Key of the per-patient date shift of research exports (defaults to one derived from SECRET_KEY:
# set it explicitly so that shifted dates stay the same if SECRET_KEY is rotated).
DEIDENTIFICATION_KEY = os.environ.get("DEIDENTIFICATION_KEY", "")
# Exactly once through crashes: a worker claims a scan's attempt and refreshes its heartbeat every
# IMAGING_HEARTBEAT_SECONDS while it works; an attempt whose heartbeat is older than
# IMAGING_STALE_AFTER_SECONDS is lost (its worker died or was cut off) and the sweep, run every
# IMAGING_SWEEP_SECONDS by beat, queues the scan again. Several missed beats make an attempt stale, so a
# busy database does not make a live attempt look dead. A scan still queued IMAGING_REQUEUE_AFTER_MINUTES
# after it was sent (a lost message) is sent again; a second delivery of a claimed scan does nothing.
IMAGING_HEARTBEAT_SECONDS = float(os.environ.get("IMAGING_HEARTBEAT_SECONDS", "15"))
IMAGING_STALE_AFTER_SECONDS = float(os.environ.get("IMAGING_STALE_AFTER_SECONDS", "120"))
IMAGING_SWEEP_SECONDS = float(os.environ.get("IMAGING_SWEEP_SECONDS", "60"))
IMAGING_REQUEUE_AFTER_MINUTES = float(os.environ.get("IMAGING_REQUEUE_AFTER_MINUTES", "30"))
# A scan whose attempts are lost this many times (killed for memory or time each run) fails with a message.
IMAGING_MAX_ATTEMPTS = int(os.environ.get("IMAGING_MAX_ATTEMPTS", "5"))
# The longest a processing attempt may run (the `full` profile on a large scan takes tens of minutes).
IMAGING_TASK_TIME_LIMIT_SECONDS = int(os.environ.get("IMAGING_TASK_TIME_LIMIT_MINUTES", "180")) * 60
# Threads for a standard scan's tensor fit in a worker; 0: the cores shared among the worker's processes
# (imaging.tasks.pipeline_threads).
IMAGING_PIPELINE_THREADS = int(os.environ.get("IMAGING_PIPELINE_THREADS", "0"))
# How often an open scan page asks for the scan's status while it is being processed.
IMAGING_STATUS_POLL_MS = int(os.environ.get("IMAGING_STATUS_POLL_MS", "2000"))
# Regions carried from another scan whose registered FA maps correlate less than this are flagged.
IMAGING_CARRY_MIN_SIMILARITY = float(os.environ.get("IMAGING_CARRY_MIN_SIMILARITY", "0.8"))
# A site's atlas (imaging/atlas.py): an FA template, a label image on it and a JSON file naming each
# label's region code. Files the site installs; none is shipped or downloaded. Unset: no atlas regions.
IMAGING_ATLAS_TEMPLATE = os.environ.get("IMAGING_ATLAS_TEMPLATE", "")
IMAGING_ATLAS_LABELS = os.environ.get("IMAGING_ATLAS_LABELS", "")
IMAGING_ATLAS_REGIONS = os.environ.get("IMAGING_ATLAS_REGIONS", "")

# API tokens (django-rest-knox): `Authorization: Token KEY`. Only a SHA-512 digest of each key is
# stored; the key is shown once, in the answer of POST /api/v1/auth/token/. A token lives
# API_TOKEN_HOURS (default 10: one clinic day, so a script started in the morning finishes, and a
# leaked key is dead by the next) from its creation, without renewal on use; signing out of the API
# (POST /api/v1/auth/logout/, /logout-all/) or deleting it in the admin revokes it at once.
REST_KNOX = {
    "TOKEN_TTL": dt.timedelta(hours=int(os.environ.get("API_TOKEN_HOURS", "10"))),
    "AUTO_REFRESH": False,
    "AUTH_HEADER_PREFIX": "Token",
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "registry.api.authentication.TokenAuthentication",  # knox's, see that module
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["registry.api.permissions.RoleModelPermissions"],
    "DEFAULT_PARSER_CLASSES": [
        "registry.api.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "registry.api.pagination.RecordPagination",
    "PAGE_SIZE": int(os.environ.get("API_PAGE_SIZE", "50")),
    "DEFAULT_FILTER_BACKENDS": ["registry.api.filters.StrictFilterBackend"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "registry.api.pagination.StrictContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "registry.api.schema.RegistryAutoSchema",
    "EXCEPTION_HANDLER": "registry.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CP cell-therapy registry API",
    "DESCRIPTION": "Patients, bone-marrow harvests, cell products, intrathecal procedures, "
    "adverse events, visits and clinical scores. Research accounts receive de-identified "
    "representations.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "registry.api.schema.research_representations",
    ],
}

# Celery: a broker that needs no server by default (kombu's filesystem transport).


def filesystem_broker_options(folder):
    """kombu's filesystem transport with its queue, processed and control folders under `folder`."""
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        # The worker looks for a new message this often once it is free: kombu's default, once a
        # second, left a worker idle for up to a second between two scans of a batch; at 0.1 s a lone
        # worker still stood idle a quarter of a batch of small scans (about 80 ms between two). At
        # 0.02 s the batch takes a quarter less time; an idle worker then uses about 1 % of a core.
        "polling_interval": float(os.environ.get("CELERY_POLLING_INTERVAL_SECONDS", 0.02)),
    }


BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(BROKER_DIR)
    # kombu's filesystem transport, with each message written whole before a worker can take it.
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
else:
    # Redis (and SQS) hand an unacknowledged message to another worker once the visibility timeout
    # has passed, even while its first worker is still busy with it. Tasks are acknowledged late (after
    # they finish), so the timeout must exceed the longest task, or a long `full`-profile run would be
    # delivered twice. Recovery after a worker dies does not wait for it: the sweep requeues a scan
    # as soon as its heartbeat is stale (minutes).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(
            os.environ.get("CELERY_VISIBILITY_TIMEOUT_SECONDS", IMAGING_TASK_TIME_LIMIT_SECONDS + 3600)
        ),
    }
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_SEND_TASK_EVENTS = True
# A worker process keeps its database connection between tasks as DATABASES says (CONN_MAX_AGE, health
# check: config.celery.reuse_database_connections); Celery itself would close it around every task.
CELERY_DB_REUSE_MAX = 2**31
CELERY_BEAT_SCHEDULE = {
    "sweep-scans": {"task": "imaging.tasks.sweep_scans", "schedule": IMAGING_SWEEP_SECONDS},
    "quality-rules-nightly": {
        "task": "registry.tasks.run_quality_rules",
        "schedule": crontab(hour=QUALITY_NIGHTLY_HOUR, minute=15),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# The site (centre) that patients stored before the registry had sites were given, and that a
# single-centre registry keeps using: created by the migration that added sites.
DEFAULT_SITE_CODE = os.environ.get("REGISTRY_DEFAULT_SITE_CODE", "MAIN")
DEFAULT_SITE_NAME = os.environ.get("REGISTRY_DEFAULT_SITE_NAME", "Main site")
