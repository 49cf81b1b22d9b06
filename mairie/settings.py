"""Django settings for Mairie: everything comes from environment variables (see docs/configuration.md).

The defaults run with zero set-up: SQLite and files under the data directory ``./var``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url

from mairie.conf import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent

# --- Data directory -----------------------------------------------------------------------------------
DATA_DIR = Path(env_str("MAIRIE_DATA_DIR", "var")).expanduser().resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    configured = env_str("MAIRIE_SECRET_KEY", "")
    if configured:
        return configured
    # Generated once per data directory and kept there (never in the repository).
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# Keys that encrypt stored secrets (mairie.core.crypto): the first encrypts, all decrypt. Empty: a key
# generated once in the data directory (<data dir>/encryption_key).
ENCRYPTION_KEYS = env_list("MAIRIE_ENCRYPTION_KEYS", "")
DEBUG = env_bool("MAIRIE_DEBUG", False)
ALLOWED_HOSTS = env_list("MAIRIE_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("MAIRIE_CSRF_TRUSTED_ORIGINS", "")
SITE_URL = env_str("MAIRIE_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# --- Applications -------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks",
    "django_tasks_db",
    "mairie.core",
    "mairie.organisations",
    "mairie.accounts",
    "mairie.audit",
    "mairie.documents",
    "mairie.search",
    "mairie.courrier",
    "mairie.mail",
    "mairie.letters",
    "mairie.routing",
    "mairie.workflows",
    "mairie.dossiers",
    "mairie.signatures",
    "mairie.circuits",
    "mairie.notifications",
    "mairie.jobs",
    "mairie.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "mairie.accounts.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mairie.urls"
WSGI_APPLICATION = "mairie.wsgi.application"

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
                "mairie.organisations.context_processors.organisation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------------
SQLITE_PATH = DATA_DIR / "mairie.sqlite3"
DATABASE_URL = env_str("DATABASE_URL", "")
_SQLITE_OPTIONS = {
    # Writers queue up instead of failing, and a transaction takes the write lock at BEGIN so
    # read-then-write sequences (chrono numbers, audit chain) never deadlock on lock upgrade.
    "transaction_mode": "IMMEDIATE",
    "timeout": env_float("MAIRIE_SQLITE_TIMEOUT", 30.0),
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        # ``sqlite:////path/db.sqlite3`` (another file, e.g. the test database shared with a worker
        # subprocess) behaves like the default one.
        DATABASES["default"]["OPTIONS"] = dict(_SQLITE_OPTIONS)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(SQLITE_PATH),
            "OPTIONS": dict(_SQLITE_OPTIONS),
            # Tests use a file (not :memory:) so that several threads and processes share one database.
            "TEST": {"NAME": str(DATA_DIR / "test-mairie.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Files --------------------------------------------------------------------------------------------
FILES_DIR = DATA_DIR / "files"
S3_BUCKET = env_str("MAIRIE_S3_BUCKET", "")
if S3_BUCKET:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env_str("MAIRIE_S3_ENDPOINT_URL", "") or None,
            "access_key": env_str("MAIRIE_S3_ACCESS_KEY", ""),
            "secret_key": env_str("MAIRIE_S3_SECRET_KEY", ""),
            "region_name": env_str("MAIRIE_S3_REGION", "") or None,
            "addressing_style": "path",
            "file_overwrite": True,
            "default_acl": None,
            "querystring_auth": False,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(FILES_DIR), "file_permissions_mode": 0o640},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Uploads: larger files are spooled to disk, never held in memory.
MAX_UPLOAD_MB = env_int("MAIRIE_MAX_UPLOAD_MB", 150)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("MAIRIE_MAX_FILES_PER_UPLOAD", 100)
MAX_IMAGE_PIXELS = env_int("MAIRIE_MAX_IMAGE_PIXELS", 200_000_000)
CLAMD = env_str("MAIRIE_CLAMD", "")
WATCH_DIR = env_str("MAIRIE_WATCH_DIR", "")

# --- OCR ----------------------------------------------------------------------------------------------
OCR_LANGUAGE = env_str("MAIRIE_OCR_LANGUAGE", "fra")
OCR_TIMEOUT = env_int("MAIRIE_OCR_TIMEOUT", 600)
# Office documents (.docx, .odt, .xlsx, .ods, .doc, .xls, .rtf) are converted to PDF by LibreOffice.
OFFICE_TIMEOUT = env_float("MAIRIE_OFFICE_TIMEOUT", 120)

# --- Jobs ---------------------------------------------------------------------------------------------
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
    }
}
WORKER_HEARTBEAT_SECONDS = env_float("MAIRIE_WORKER_HEARTBEAT", 10.0)
WORKER_STALE_SECONDS = env_float("MAIRIE_WORKER_STALE_AFTER", 60.0)
WORKER_POLL_SECONDS = env_float("MAIRIE_WORKER_POLL", 1.0)

# --- Mailboxes (mairie.mail) ---------------------------------------------------------------------------
MAIL_POLL_SECONDS = env_float("MAIRIE_MAIL_POLL_SECONDS", 120.0)
MAIL_MAX_BYTES = env_int("MAIRIE_MAIL_MAX_BYTES", 50 * 1024 * 1024)
MAIL_TIMEOUT_SECONDS = env_float("MAIRIE_MAIL_TIMEOUT", 30.0)
# Workflows: seconds to wait for the server a « webhook » action calls (the call is retried 4 times).
WEBHOOK_TIMEOUT_SECONDS = env_float("MAIRIE_WEBHOOK_TIMEOUT", 10.0)
# Whether webhooks may call addresses of the local network (loopback, private ranges): off by default.
WEBHOOK_ALLOW_PRIVATE = env_bool("MAIRIE_WEBHOOK_ALLOW_PRIVATE", False)
# Parapheur: days a visa or signature step may wait before it is overdue (reminded before, escalated after).
CIRCUIT_STEP_DAYS = env_int("MAIRIE_CIRCUIT_STEP_DAYS", 5)

# --- Electronic signatures (mairie.signatures) --------------------------------------------------------
# RFC 3161 time-stamping authority (HTTP): set, signatures are PAdES B-T; empty, B-B.
TSA_URL = env_str("MAIRIE_TSA_URL", "")
TSA_TIMEOUT_SECONDS = env_float("MAIRIE_TSA_TIMEOUT", 10.0)
# PEM bundle of the certification authorities whose signatures are "reconnues" (trusted) when verifying.
SIGNATURE_TRUST_ROOTS = env_str("MAIRIE_SIGNATURE_TRUST_ROOTS", "")

# --- Recognition and routing (mairie.routing) ---------------------------------------------------------
ROUTING_MIN_SAMPLES = env_int("MAIRIE_ROUTING_MIN_SAMPLES", 20)
ROUTING_RETRAIN_EVERY = env_int("MAIRIE_ROUTING_RETRAIN_EVERY", 20)
ROUTING_RETRAIN_MAX_AGE_HOURS = env_int("MAIRIE_ROUTING_RETRAIN_MAX_AGE_HOURS", 24)

# --- Tasks (mairie.dossiers.reminders) ---------------------------------------------------------------
# Days before a task's deadline its assignee is reminded (once); after it, the task is escalated (once).
TASK_REMINDER_DAYS = env_int("MAIRIE_TASK_REMINDER_DAYS", 2)

# --- Web server ---------------------------------------------------------------------------------------
WEB_WORKERS = env_int("MAIRIE_WEB_WORKERS", 2)

# --- Authentication -----------------------------------------------------------------------------------
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_AGE = env_int("MAIRIE_SESSION_HOURS", 12) * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("MAIRIE_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "SAMEORIGIN"
SECURE_REFERRER_POLICY = "same-origin"

# --- E-mail -------------------------------------------------------------------------------------------
# Messages go through mairie.core.mailer (kept whole, sent by a job, retried): smtp://user:pass@host:port,
# ?starttls=1, or smtps://; empty, they are written as .eml files under <data dir>/outbox/.
SMTP_URL = env_str("MAIRIE_SMTP_URL", "")
MAIL_FROM = env_str("MAIRIE_MAIL_FROM", "Mairie <ne-pas-repondre@localhost>")
DEFAULT_FROM_EMAIL = MAIL_FROM
# Django's own mail functions are not used; should anything call them, their messages stay on disk.
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = str(DATA_DIR / "outbox" / "django")

# --- Internationalisation -----------------------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français")]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- Logging ------------------------------------------------------------------------------------------
LOG_LEVEL = env_str("MAIRIE_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "mairie": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django_tasks_db": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
