"""Settings for the presence profiles portal, read from the environment.

Every value comes from an environment variable with a development default,
so `./run` works on a fresh machine with no servers. A bad value stops
start-up with a message that names the variable (ImproperlyConfigured).
"""

import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PORTAL_VAR_DIR", BASE_DIR / "var")).resolve()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {raw!r}")


def envint(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def envchoice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# "development" runs on embedded defaults; "production" demands real settings.
PORTAL_MODE = envchoice("PORTAL_MODE", "development", ("development", "production"))
PRODUCTION = PORTAL_MODE == "production"
DEBUG = envbool("DEBUG", not PRODUCTION)


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY", "")
    if key:
        if PRODUCTION and len(key) < 50:
            raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters in production mode")
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY is required when PORTAL_MODE=production")
    # Development: generate once and keep it, so sessions survive restarts.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1]")
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when PORTAL_MODE=production")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"TIME_ZONE must be an IANA time zone such as Europe/Berlin, got {TIME_ZONE!r}"
    ) from None
USE_TZ = True
USE_I18N = True
# English is the source language; German is translated in locale/de/ (see
# README "Translations"). The browser's Accept-Language picks one until the
# user chooses on the page (a cookie, kept for a year).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
# Dates and times in the user's language: named formats (SHORT_DATETIME_FORMAT,
# …) per language in portal/formats/<lang>/formats.py.
FORMAT_MODULE_PATH = ["portal.formats"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "axes",
    "live",
    # django-ninja's app serves its bundled Swagger UI and Redoc from static
    # files; without it in INSTALLED_APPS the docs page loads them from a CDN.
    "ninja",
    "devices",
    "profiles",
    "api",
    # Last: its admin module narrows django-celery-beat's admin (portal/admin.py).
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.PermissionsPolicyMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # 400 for NUL/control characters and absurdly long numbers, before any view.
    "portal.middleware.HostileInputMiddleware",
    # Last: answers a locked-out login (django-axes).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "live.context_processors.live",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------
# DATABASE_URL: postgres://user@host:5432/name in production; a SQLite file
# under var/ by default. Persistent connections matter on PostgreSQL (about
# 6x the request rate of CONN_MAX_AGE=0 measured on these machines).
_default_db = f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"
_db_url = os.environ.get("DATABASE_URL", "") or _default_db
try:
    _db = dj_database_url.parse(_db_url, conn_max_age=envint("CONN_MAX_AGE", 60))
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL this portal understands: {exc}") from None
if _db["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _db["CONN_MAX_AGE"] = 0
    # WAL + a busy timeout + IMMEDIATE transactions let web and worker share
    # the file; without IMMEDIATE many concurrent tasks fail with "database
    # is locked" (measured: 433 of 992).
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;",
        "transaction_mode": "IMMEDIATE",
    }
    _db.setdefault("TEST", {})["NAME"] = str(VAR_DIR / "test.sqlite3")
elif _db["ENGINE"] not in ("django.db.backends.postgresql",):
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://…) or SQLite (sqlite:///…)")
else:
    # The driver prepares a statement only when asked (a portal.bulk.Statement:
    # the switch's write), never by count. Django's own queries
    # are bound on the client and never prepared; its default (None) would
    # turn preparing off altogether.
    _db.setdefault("OPTIONS", {}).setdefault("prepare_threshold", 2**31 - 1)
    # PostgreSQL's JIT compiles a statement whose estimated cost passes
    # jit_above_cost: the switch statement of a trigger batch of 1,000 users
    # (its CTE joins are over-estimated) spent 1.1 s compiling, against
    # 0.05 s running. The portal's statements are short: JIT off for its
    # connections (DATABASE_JIT=1 leaves the server's setting).
    if not envbool("DATABASE_JIT", False):
        options = _db["OPTIONS"].get("options", "")
        _db["OPTIONS"]["options"] = f"{options} -c jit=off".strip()
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes counts failed logins (portal and admin) per username and
# client address; after LOGIN_FAILURE_LIMIT failures that pair is locked
# out for LOGIN_LOCKOUT_MINUTES. An administrator unlocks early by deleting
# the row in the admin (Axes: Access attempts).
AUTHENTICATION_BACKENDS = [
    "portal.accounts.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
if not PRODUCTION:
    # WhiteNoise warns on every request when the folder is missing; in
    # development the files are served from the finders, with debug on or
    # off (DEBUG=0 ./run), so no collectstatic is needed.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
    WHITENOISE_USE_FINDERS = True

# --- Celery ---------------------------------------------------------------
# Default broker: kombu's filesystem transport under var/, so a newcomer
# needs no server. Folders must be absolute; in = out; processed messages
# are not kept.
_broker_dir = VAR_DIR / "broker"
# "localhost" names no server (the transport reads folders); without a host
# kombu logs "No hostname was supplied" at every start, which reads as an error.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "") or "filesystem://localhost/"
if not CELERY_BROKER_URL.startswith(("filesystem://", "redis://", "rediss://", "amqp://", "memory://")):
    raise ImproperlyConfigured("CELERY_BROKER_URL must be a redis://, amqp:// or filesystem:// URL")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "control", "processed"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The portal's system schedules. django-celery-beat's DatabaseScheduler
# copies these into its tables at start. User time triggers are NOT beat
# entries: one entry claims due triggers from an indexed table (README).
CELERY_BEAT_SCHEDULE = {
    "sweep-pending-applies": {"task": "devices.tasks.sweep_pending", "schedule": 30.0},
    "reconcile-devices": {"task": "devices.tasks.reconcile_all", "schedule": 300.0},
    # Every time trigger and clear-after timer: one scan of an indexed table.
    "due-scan": {"task": "profiles.automation.tasks.due_scan", "schedule": 30.0},
    # Each Microsoft 365 connector is polled at its own interval (default
    # 10 s); this tick only hands the due ones to their tasks.
    "poll-status-connectors": {
        "task": "profiles.automation.tasks.poll_status_connectors",
        "schedule": float(envint("STATUS_POLL_TICK_SECONDS", 5, minimum=1)),
    },
}

# --- The portal -------------------------------------------------------------
PBX_DRIVER = envchoice("PBX_DRIVER", "simulated", ("simulated", "asterisk"))
# Asterisk AMI connection (used when PBX_DRIVER=asterisk).
AMI_HOST = os.environ.get("AMI_HOST", "127.0.0.1")
AMI_PORT = envint("AMI_PORT", 5038, minimum=1)
AMI_USERNAME = os.environ.get("AMI_USERNAME", "portal")
AMI_SECRET = os.environ.get("AMI_SECRET", "")
if PBX_DRIVER == "asterisk" and not AMI_SECRET:
    raise ImproperlyConfigured("AMI_SECRET is required when PBX_DRIVER=asterisk")
# Seconds to wait for the connection and for each answer (a failed login
# answers only after about 1 s).
AMI_TIMEOUT = envint("AMI_TIMEOUT", 5, minimum=2)
# Dialplan conventions the Asterisk driver assumes (FreePBX-style defaults;
# README "Asterisk driver"). {ext} is the extension number.
AMI_DND_FAMILY = os.environ.get("AMI_DND_FAMILY", "DND")
AMI_CF_FAMILY = os.environ.get("AMI_CF_FAMILY", "CF")
AMI_PORTAL_FAMILY = os.environ.get("AMI_PORTAL_FAMILY", "PORTAL")
AMI_DND_DEVICE = os.environ.get("AMI_DND_DEVICE", "Custom:DND{ext}")
AMI_PRESENCE_PROVIDER = os.environ.get("AMI_PRESENCE_PROVIDER", "CustomPresence:{ext}")
AMI_QUEUE_INTERFACE = os.environ.get("AMI_QUEUE_INTERFACE", "Local/{ext}@from-queue/n")
AMI_QUEUE_STATE_INTERFACE = os.environ.get("AMI_QUEUE_STATE_INTERFACE", "hint:{ext}@ext-local")
AMI_QUEUE_MEMBER_NAME = os.environ.get("AMI_QUEUE_MEMBER_NAME", "Ext {ext}")
# The event listener (manage.py pbx_listen): the call-forward lamp FreePBX's
# *72/*73 set, and the real device whose state is the line state.
AMI_CF_DEVICE = os.environ.get("AMI_CF_DEVICE", "Custom:CF{ext}")
AMI_LINE_DEVICE = os.environ.get("AMI_LINE_DEVICE", "PJSIP/{ext}")
for _name in (
    "AMI_DND_DEVICE",
    "AMI_PRESENCE_PROVIDER",
    "AMI_QUEUE_INTERFACE",
    "AMI_QUEUE_STATE_INTERFACE",
    "AMI_CF_DEVICE",
    "AMI_LINE_DEVICE",
):
    # Without {ext} every extension would share one device or queue member.
    try:
        _ok = "{ext}" in globals()[_name] and globals()[_name].format(ext="1000")
    except (KeyError, IndexError, ValueError):
        _ok = False
    if not _ok:
        raise ImproperlyConfigured(f"{_name} must contain {{ext}} (the extension number) and no other braces")
# An apply still pending after this many seconds is re-enqueued by Beat.
PENDING_APPLY_SWEEP_SECONDS = envint("PENDING_APPLY_SWEEP_SECONDS", 60, minimum=1)
# Time-trigger firings later than this are recorded as missed, not applied.
TRIGGER_GRACE_MINUTES = envint("TRIGGER_GRACE_MINUTES", 15, minimum=0)
# Signed status webhooks older or newer than this many seconds are refused.
STATUS_WEBHOOK_REPLAY_SECONDS = envint("STATUS_WEBHOOK_REPLAY_SECONDS", 300, minimum=1)
# Calendar triggers: the largest ICS file fetched, and the longest a fetch
# may take in total (a slow-drip server is cut off).
CALENDAR_MAX_BYTES = envint("CALENDAR_MAX_BYTES", 5_000_000, minimum=10_000)
CALENDAR_FETCH_SECONDS = envint("CALENDAR_FETCH_SECONDS", 20, minimum=1)
# "Until the end of the working day" on My presence: this local time (HH:MM)
# in the user's time zone.
WORKDAY_END = os.environ.get("WORKDAY_END", "17:00")
try:
    _hour, _minute = (int(x) for x in WORKDAY_END.split(":"))
    _ok = 0 <= _hour < 24 and 0 <= _minute < 60
except ValueError:
    _ok = False
if not _ok:
    raise ImproperlyConfigured(f"WORKDAY_END must be a time of day as HH:MM, e.g. 17:00, not {WORKDAY_END!r}")

# --- Cache (shared by all web workers: the API's rate limit counts here) ----
# CACHE_URL: redis://host:6379/1 in production (atomic counters, no database
# queries); by default files under var/cache/, which every worker process on
# the machine shares with no server and no database query per request.
CACHE_URL = os.environ.get("CACHE_URL", "").strip()
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL == "" or CACHE_URL.startswith("file:///"):
    _cache_dir = Path(CACHE_URL.removeprefix("file://") if CACHE_URL else VAR_DIR / "cache")
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(_cache_dir)}
    }
else:
    raise ImproperlyConfigured("CACHE_URL must be a redis:// URL, a file:/// folder, or empty (files under var/cache)")

# --- The client API (/api/v1/) ------------------------------------------------
# Requests per token (or per signed-in browser user) and window, e.g. 300/m.
API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "300/m").strip()
if not re.fullmatch(r"[1-9][0-9]*/[0-9]*[smhd]", API_RATE_LIMIT):
    raise ImproperlyConfigured(f"API_RATE_LIMIT must look like 300/m (count/s, m, h or d), got {API_RATE_LIMIT!r}")
# A client session that sends no heartbeat for this many seconds ends as if
# its client had disconnected (DESIGN rule 12).
CLIENT_SESSION_WINDOW_SECONDS = envint("CLIENT_SESSION_WINDOW_SECONDS", 90, minimum=5)
# A token's last-used time and address are written at most this often.
API_TOKEN_TOUCH_SECONDS = envint("API_TOKEN_TOUCH_SECONDS", 60, minimum=0)

# --- Mail -------------------------------------------------------------------
# Password reset mails. EMAIL_HOST set: SMTP. Unset: the console in
# development; in production the password reset pages do not exist then
# (a user is never told a mail was sent that could not be).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = envint("EMAIL_PORT", 587, minimum=1)
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", True)
    EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10, minimum=1)
elif not PRODUCTION:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "webmaster@localhost")
PASSWORD_RESET_ENABLED = bool(EMAIL_HOST) or not PRODUCTION

# --- Live updates (the event stream, README "Live updates") ------------------
# LIVE_TRANSPORT_URL: how publishers wake the stream servers. Redis pub/sub
# when the broker is Redis; otherwise a file under var/ (./run, no server).
_redis_broker = CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
LIVE_TRANSPORT_URL = os.environ.get("LIVE_TRANSPORT_URL", "") or _redis_broker or f"file://{VAR_DIR / 'live.wake'}"
if not LIVE_TRANSPORT_URL.startswith(("redis://", "rediss://", "file:///")):
    raise ImproperlyConfigured("LIVE_TRANSPORT_URL must be a redis:// URL or file:///absolute/path")
# Where the pages find the stream: same origin behind the proxy in
# production; under ./run the ASGI server on port 8001 of the page's host
# ("{host}" is the host name the page was loaded from).
LIVE_STREAM_URL = os.environ.get("LIVE_STREAM_URL", "") or (
    "/live/events/" if PRODUCTION else "http://{host}:8001/live/events/"
)
# Pages on these origins may read the stream with the user's cookie (CORS);
# needed only when the stream is on another origin than the pages.
LIVE_ALLOWED_ORIGINS = envlist(
    "LIVE_ALLOWED_ORIGINS", "" if PRODUCTION else "http://127.0.0.1:8000,http://localhost:8000"
)
# The stream's origin, when it is not the pages' own, for the CSP's
# connect-src: under ./run port 8001 of each development host name.
_live = urlparse(LIVE_STREAM_URL)
if "{host}" in _live.netloc:
    # (CSP has no IPv6 literals, and a wildcard host here would open it to any.)
    _port = f":{_live.port}" if _live.port else ""
    _LIVE_SOURCES = [f"{_live.scheme}://{host}{_port}" for host in ALLOWED_HOSTS if host[:1] not in ("[", "*", ".")]
elif _live.netloc:
    _LIVE_SOURCES = [f"{_live.scheme}://{_live.netloc}"]
else:
    _LIVE_SOURCES = []  # same origin: 'self'
LIVE_REPLAY_SECONDS = envint("LIVE_REPLAY_SECONDS", 300, minimum=10)
LIVE_RECHECK_SECONDS = envint("LIVE_RECHECK_SECONDS", 30, minimum=1)
LIVE_HEARTBEAT_SECONDS = envint("LIVE_HEARTBEAT_SECONDS", 25, minimum=1)
# The stream servers read the event table this often even without a wake-up
# (the safety net for a lost Redis message or file touch).
LIVE_CATCH_UP_SECONDS = envint("LIVE_CATCH_UP_SECONDS", 5, minimum=1)
# The heartbeat and the login re-check may serve a slot of the streams this
# often (each stream still once per period). By default each runs once per
# period over all streams: one wake-up instead of one a second was cheaper
# while idle (README, "Live updates").
LIVE_TICK_SECONDS = envint("LIVE_TICK_SECONDS", 30, minimum=1)

# --- Security -------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
# A login lasts this long (two weeks by default), renewed by no activity.
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", 14 * 24 * 3600, minimum=60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = envbool("SESSION_EXPIRE_AT_BROWSER_CLOSE", False)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Content-Security-Policy (django-csp): scripts, styles, images and requests
# from the portal's own origin only; no inline script, no inline style
# attribute, no eval (htmx runs with allowEval off, so no hx-on). A profile's
# colour travels as data-colour and static/js/portal.js sets it through the
# CSSOM. CSP_CONNECT_SRC adds origins pages may connect to (an event stream
# served from another host or port).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'", *envlist("CSP_CONNECT_SRC", ",".join(_LIVE_SOURCES))],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    # Preload and subdomains commit the whole domain to HTTPS (a preload
    # list entry is slow to undo); on by default, off for a domain whose
    # other hosts are not all on HTTPS yet.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
