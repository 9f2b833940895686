"""Settings of the platform, all read from the environment (and `.env`).

With nothing set the platform runs on its embedded default: SQLite, a
local-memory cache and eager Celery. `DATABASE_URL=mysql://…` and
`REDIS_URL=redis://…` switch to the production stack. `DJANGO_ENV=production`
turns on the production rules: no default secret, required variables, secure
cookies and strict configuration validation at start-up.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False, parse_comments=True)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"
# `make run` records how to reach its own nginx here, so that manage.py commands run from
# another shell (approve_user, reconcile …) change the same routes. Development only.
STACK_ENV_FILE = env.str("STACK_ENV_FILE", default=str(BASE_DIR / "var" / "stack.env"))
if not PRODUCTION and STACK_ENV_FILE and Path(STACK_ENV_FILE).is_file():
    environ.Env.read_env(STACK_ENV_FILE, overwrite=False)

# --- core -------------------------------------------------------------------
if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")  # no default: refuse to start without it
else:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-insecure-key-do-not-use-in-production")
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- the workspace edge (containers/edge.py, templates/nginx/platform.conf) ---
# Where people reach the platform (pages, admin, API). nginx serves it and, on the same scheme
# and port, every workspace app on its own origin `<user>--<app>.<WORKSPACE_DOMAIN>`.
PLATFORM_URL = (
    env.str("PLATFORM_URL") if PRODUCTION else env.str("PLATFORM_URL", default="http://localhost:8080")
).rstrip("/")
# One DNS label per app, so one wildcard certificate covers them all. `localhost` needs no DNS:
# browsers and curl resolve `*.localhost` to loopback.
WORKSPACE_DOMAIN = env.str("WORKSPACE_DOMAIN", default="localhost").lower().strip(".")
# Admins enter other people's workspaces only when this is on, and every entry is audited.
WORKSPACE_ADMIN_ACCESS = env.bool("WORKSPACE_ADMIN_ACCESS", default=False)
# nginx keeps an auth answer this long: revoking takes effect within it.
EDGE_AUTH_CACHE_SECONDS = env.int("EDGE_AUTH_CACHE_SECONDS", default=10)
# A handshake ticket lives this long and is good for one use on one host.
EDGE_TICKET_SECONDS = env.int("EDGE_TICKET_SECONDS", default=30)
# Log-in and sign-up requests per second (and burst) one client address may send through nginx.
EDGE_AUTH_RATE = env.int("EDGE_AUTH_RATE", default=5)
EDGE_AUTH_BURST = env.int("EDGE_AUTH_BURST", default=20)
# nginx needs a resolver when a server's publish address is a host name (an IP needs none).
NGINX_RESOLVER = env.str("NGINX_RESOLVER", default="")
_platform = urlsplit(PLATFORM_URL)
PLATFORM_SECURE = _platform.scheme == "https"
# Forms work behind nginx on any port: the platform's own origin is always trusted.
CSRF_TRUSTED_ORIGINS = [*CSRF_TRUSTED_ORIGINS, f"{_platform.scheme}://{_platform.netloc}"]
# Workspace hosts reach Django only for the handshake callback and nginx's auth subrequest.
ALLOWED_HOSTS = [*ALLOWED_HOSTS, _platform.hostname or "localhost", f".{WORKSPACE_DOMAIN}"]
# The workspace hosts' own cookie; `__Host-` (HTTPS only) stops a sibling host from setting it.
EDGE_COOKIE_NAME = ("__Host-" if PLATFORM_SECURE else "") + "mgmt_edge"
# The handshake's state cookie on a workspace host (binds a ticket to the browser that asked).
EDGE_STATE_COOKIE_NAME = ("__Host-" if PLATFORM_SECURE else "") + "mgmt_edge_state"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "axes",
    "django_celery_beat",
    "mgmt",
    "accounts",
    "audit",
    "servers",
    "traffic",
    "containers",
    "registry",
    "builds",
    "maintenance",
    "events",
]

MIDDLEWARE = [
    "mgmt.logging.RequestIdMiddleware",
    # Outermost but two, so its latency covers the whole stack (traffic/middleware.py).
    "traffic.middleware.TrafficMiddleware",
    "audit.middleware.AuditContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's, the API browser's) from gunicorn itself, in every mode.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so that it sees the outcome of authentication attempts.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mgmt.urls"
WSGI_APPLICATION = "mgmt.wsgi.application"
ASGI_APPLICATION = "mgmt.asgi.application"

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

# --- database ---------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL")
    if PRODUCTION
    else env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    # The connection uses the tables' collation: string expressions built in SQL
    # (e.g. guardian's Cast(pk) against object_pk) must compare without a collation mix.
    DB_COLLATION = env.str("DB_COLLATION", default="utf8mb4_unicode_ci")
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "charset": "utf8mb4",
            "collation": DB_COLLATION,
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
        }
    )
    DATABASES["default"]["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": DB_COLLATION}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default runs web, worker and beat as separate processes on one file: WAL lets
    # readers go on while one writes, and writers wait for the lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60 if PRODUCTION else 0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache, Celery ----------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CACHE_URL = env.str("CACHE_URL", default=REDIS_URL)
if CACHE_URL and not CACHE_URL.startswith(("redis://", "rediss://")):
    # e.g. filecache:///…: one cache that web, worker and beat share without a server (`make run`).
    CACHES = {"default": env.cache_url_config(CACHE_URL)}
elif CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="mgmt"),
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Redis in production. On one machine without Redis (`make run`), kombu's filesystem transport
# carries tasks between the processes through a directory; with no broker at all, tasks run eagerly.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or None)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL == "memory://")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60)
CELERY_TASK_DEFAULT_QUEUE = "default"
# Saga steps and builds are long: a worker takes one task at a time, so a slow step never holds
# tasks another idle worker could run (Celery's default prefetches 4 per process).
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"socket_connect_timeout": 2}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = Path(env.str("CELERY_BROKER_DIR", default=str(BASE_DIR / "var" / "celery")))
    (_broker_dir / "queue").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.2,  # seconds between looks at the folder: the saga's hops wait on it
    }
# Queues by kind of work. Routes are database rows nginx reads, so nothing must run on the
# nginx host.
CELERY_TASK_ROUTES = {
    # A saga step's queue is given by the step table (containers/saga.py) as it is sent.
    "containers.tasks.workspace_step_task": {"queue": "provisioning"},
    "builds.tasks.build_run_task": {"queue": "builds"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Periodic tasks; apps add entries here (django-celery-beat loads them at start).
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "accounts-purge-expired-sessions": {
        "task": "accounts.tasks.sessions_purge_expired_task",
        "schedule": timedelta(hours=6),
    },
}

# --- auth -------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Lets inactive accounts through the password check so that login can say
    # "disabled" instead of "wrong password"; the login service refuses them.
    "django.contrib.auth.backends.AllowAllUsersModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    # Hashes imported from the original platform ("bcrypt$" + "$2b$12$…").
    "accounts.hashers.LegacyBCryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row
SESSION_TOKEN_LIFETIME = timedelta(hours=env.int("SESSION_LIFETIME_HOURS", default=12))
SESSION_COOKIE_NAME_WORKSPACE = env.str("SESSION_TOKEN_COOKIE", default="mgmt_token")
# Expired or revoked sessions are kept this long (for the record), then purged.
SESSION_RETENTION_DAYS = env.int("SESSION_RETENTION_DAYS", default=30)
# Sign-ups per client address ("20/hour"); empty turns the limit off.
REGISTER_RATE_LIMIT = env.str("REGISTER_RATE_LIMIT", default="20/hour")

# django-axes: lock out by username + IP; one proxy hop trusted at most.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
# The pair locks: one address (a classroom behind NAT) never locks out everyone behind it, and
# one account's guesser cannot lock its owner out from elsewhere. nginx's limit_req on log-in caps
# the rate per address; the client address is the trusted proxy's view (mgmt.client_ip).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# The client address as mgmt.client_ip computes it (N-th X-Forwarded-For entry from the right).
AXES_CLIENT_IP_CALLABLE = "mgmt.client_ip.client_ip"
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_VERBOSE = False

SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
if PRODUCTION:
    # nginx ends TLS and sets X-Forwarded-Proto itself (one trusted hop; gunicorn listens only
    # where nginx reaches it), so Django knows which requests came in over HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PLATFORM_SECURE)
    # nginx's own questions (edge verify) and health probes come over plain HTTP on loopback.
    SECURE_REDIRECT_EXEMPT = [r"^edge/verify$", r"^api/health$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if PLATFORM_SECURE else 0)
    # Workspace hosts are subdomains served on the same scheme: HSTS covers them as well.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        # Preload lists are a commitment an operator makes for the whole domain, not a default.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- mail -------------------------------------------------------------------
# Notices to people (e.g. "someone tried to sign up with your address"). The console backend
# writes them to the log until an operator sets EMAIL_BACKEND (…smtp.EmailBackend) and EMAIL_HOST.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=f"noreply@{_platform.hostname or 'localhost'}")

# --- DRF --------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": [
        "mgmt.api.renderers.EnvelopeJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First: its "Bearer" challenge makes anonymous requests 401, not 403.
        "accounts.authentication.SessionTokenAuthentication",
        # Staff logged in to the Django admin can use the browsable API (active accounts only).
        "accounts.authentication.ActiveSessionAuthentication",
    ],
    # OPTIONS answers only to those who may GET the route.
    "DEFAULT_METADATA_CLASS": "mgmt.api.metadata.PermissionCheckedMetadata",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "mgmt.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "mgmt.api.exceptions.envelope_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Workspace platform API",
    "DESCRIPTION": "Accounts, Docker hosts, workspaces, images, builds and audit.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files: no CDN needed.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status" with different choices: name each set.
    "ENUM_NAME_OVERRIDES": {
        "WorkspaceStatusEnum": "containers.models.WorkspaceStatus",
        "ReconcileRunStatusEnum": "maintenance.models.RunStatus",
    },
    # 3.1: JSON Schema as it is (null as a type, `propertyNames` for the keys of label maps).
    "OAS_VERSION": "3.1.0",
    # The envelope and the shared error answers, once for every operation (docs/api.md).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mgmt.api.schema.envelope_postprocessing_hook",
    ],
}

# --- i18n, static -----------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Development serves straight from the apps; production from STATIC_ROOT after `collectstatic`.
WHITENOISE_USE_FINDERS = DEBUG

# --- logging (loguru is the one sink; see mgmt/logging.py) ------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_JSON = env.bool("LOG_JSON", default=PRODUCTION)
LOGGING_CONFIG = None  # mgmt.logging.configure_logging() owns logging


# --- the platform -----------------------------------------------------------
# Required in production; validated by mgmt.config_validation.
def _platform_var(name: str, default: str) -> str:
    """A platform variable: required in production, a local default otherwise."""
    return env.str(name) if PRODUCTION else env.str(name, default=default)


MGMT_SERVER_IP = _platform_var("MGMT_SERVER_IP", "127.0.0.1")
AGENT_PORT = _platform_var("AGENT_PORT", "5005")
# Workspace folders are the Docker hosts' (each agent's AGENT_WORKSPACE_ROOT and _TEMPLATE):
# the platform names a folder and never touches a host's disk.
CONFIG_REQUIRED_VARIABLES = [
    "MGMT_SERVER_IP",
    "AGENT_PORT",
    "PLATFORM_URL",
    "WORKSPACE_DOMAIN",
]
# Image of new workspaces when the admins' allowed-images list is empty.
WORKSPACE_DEFAULT_IMAGE = env.str("WORKSPACE_DEFAULT_IMAGE", default="mgmt-test/workspace:latest")
# Resources of a workspace when the approval names none; ports VS Code and Jupyter listen on inside.
WORKSPACE_DEFAULT_CPU = env.float("WORKSPACE_DEFAULT_CPU", default=1.0)
WORKSPACE_DEFAULT_MEMORY = env.int("WORKSPACE_DEFAULT_MEMORY", default=2 * 1024**3)
WORKSPACE_VSCODE_PORT = env.int("WORKSPACE_VSCODE_PORT", default=8080)
WORKSPACE_JUPYTER_PORT = env.int("WORKSPACE_JUPYTER_PORT", default=8888)
# The unprivileged user workspaces run as (the agent allows exactly this one); it owns the folder.
WORKSPACE_UID = env.int("WORKSPACE_UID", default=1000)
WORKSPACE_GID = env.int("WORKSPACE_GID", default=1000)
# Host ports reserved per server for workspaces ("low-high"): the agent publishes exactly these,
# so a container Docker restarts keeps its ports and its route.
WORKSPACE_HOST_PORTS = env.str("WORKSPACE_HOST_PORTS", default="20000-29999")
# A new or started workspace is Active once both apps answer; this long, else it fails.
WORKSPACE_READY_TIMEOUT = env.int("WORKSPACE_READY_TIMEOUT", default=180)
# Registries on loopback/link-local addresses are refused unless an admin allows them.
REGISTRY_ALLOW_LOCAL_TARGETS = env.bool("REGISTRY_ALLOW_LOCAL_TARGETS", default=False)
# Guest OS uploads: where they are kept, how big they may be, which kinds are accepted.
UPLOAD_ROOT = env.str("UPLOAD_ROOT", default=str(BASE_DIR / "var" / "uploads"))
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=20 * 1024**3)
UPLOAD_CHUNK_MAX_BYTES = env.int("UPLOAD_CHUNK_MAX_BYTES", default=64 * 1024**2)
UPLOAD_ALLOWED_KINDS = env.list("UPLOAD_ALLOWED_KINDS", default=["rootfs", "iso", "disk"])
# Images on a host: seconds an agent's image list is reused.
SERVER_IMAGES_TTL = env.int("SERVER_IMAGES_TTL", default=15)
# Builds: largest context archive accepted, heartbeat interval, and the silence after which a
# running build counts as abandoned by a dead worker (longer than the agent's stream read timeout).
BUILD_CONTEXT_MAX_BYTES = env.int("BUILD_CONTEXT_MAX_BYTES", default=200 * 1024**2)
BUILD_HEARTBEAT_SECONDS = env.float("BUILD_HEARTBEAT_SECONDS", default=5.0)
BUILD_STALE_SECONDS = env.int("BUILD_STALE_SECONDS", default=120)
# Label prefix on everything the platform creates on a Docker host.
PLATFORM_LABEL_PREFIX = env.str("PLATFORM_LABEL_PREFIX", default="mgmt")

# --- encryption at rest (mgmt/crypto.py) -------------------------------------
# Comma-separated Fernet keys, the first one current; development derives one from SECRET_KEY.
FIELD_ENCRYPTION_KEYS = (
    env.list("FIELD_ENCRYPTION_KEYS") if PRODUCTION else env.list("FIELD_ENCRYPTION_KEYS", default=[])
)

# --- Docker hosts: agents, stats, SSH (servers/) ------------------------------
AGENT_CONNECT_TIMEOUT = env.float("AGENT_CONNECT_TIMEOUT", default=2.0)
AGENT_READ_TIMEOUT = env.float("AGENT_READ_TIMEOUT", default=5.0)
# Container actions (create, stop, delete…) wait on Docker; a pull or an import can take minutes.
AGENT_ACTION_READ_TIMEOUT = env.float("AGENT_ACTION_READ_TIMEOUT", default=60.0)
# Builds and pushes stream for a long time; their read timeout is per chunk.
AGENT_STREAM_READ_TIMEOUT = env.float("AGENT_STREAM_READ_TIMEOUT", default=300.0)
AGENT_CA_BUNDLE = env.str("AGENT_CA_BUNDLE", default="")  # for agents served over TLS
SERVER_STATS_TTL = env.int("SERVER_STATS_TTL", default=30)  # seconds a fetched stats answer is reused
# Threads of one fan-out (stats, images, reconcile): one per agent up to this many. Idle threads
# waiting on the network cost little; fewer threads than agents asks them in waves.
SERVER_STATS_WORKERS = env.int("SERVER_STATS_WORKERS", default=128)
SERVER_STATS_POLL_SECONDS = env.int("SERVER_STATS_POLL_SECONDS", default=60)
SERVER_STATS_RETENTION_DAYS = env.int("SERVER_STATS_RETENTION_DAYS", default=14)
SSH_CONNECT_TIMEOUT = env.float("SSH_CONNECT_TIMEOUT", default=5.0)
SSH_COMMAND_TIMEOUT = env.float("SSH_COMMAND_TIMEOUT", default=30.0)
SSH_AGENT_RESTART_COMMAND = env.str(
    "SSH_AGENT_RESTART_COMMAND", default="sudo -n systemctl restart mgmt-agent"
)
SSH_AGENT_INSTALL_COMMAND = env.str("SSH_AGENT_INSTALL_COMMAND", default="")

# --- traffic and metrics (traffic/counters.py, traffic/metrics.py) -----------
TRAFFIC_RETENTION_DAYS = env.int("TRAFFIC_RETENTION_DAYS", default=90)
TRAFFIC_EXCLUDED_PATHS = env.list(
    # /edge/verify is nginx's own (cached) subrequest: the hot path of every workspace, not API use.
    "TRAFFIC_EXCLUDED_PATHS",
    default=["/api/health", "/metrics", "/static/", "/favicon.ico", "/edge/verify"],
)
# /metrics: a bearer token (constant-time compare) or a client address in these networks.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=[])

CELERY_BEAT_SCHEDULE.update(
    {
        "servers-poll-stats": {
            "task": "servers.tasks.servers_poll_task",
            "schedule": float(SERVER_STATS_POLL_SECONDS),
        },
        "servers-prune-stats-history": {
            "task": "servers.tasks.server_stats_prune_task",
            "schedule": 3600.0,
        },
        # The old entry name: the database scheduler updates that row's task in place.
        "servers-rollup-traffic": {
            "task": "traffic.tasks.traffic_rollup_task",
            "schedule": 300.0,
        },
        "containers-purge-edge": {
            "task": "containers.tasks.edge_purge_expired_task",
            "schedule": 3600.0,
        },
        "builds-fail-abandoned": {
            "task": "builds.tasks.builds_fail_abandoned_task",
            "schedule": 60.0,
        },
    }
)

# --- cleanup and reconciliation (maintenance/) ---------------------------------
# Audit rows older than this are deleted by the retention job (0 keeps them forever).
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
# An upload still "uploading" with no chunk for this long is abandoned: row and partial file removed.
UPLOAD_ABANDONED_HOURS = env.int("UPLOAD_ABANDONED_HOURS", default=24)
# Unused images younger than this are never pruned (a pull or build may be about to use them).
IMAGE_PRUNE_MIN_AGE_HOURS = env.int("IMAGE_PRUNE_MIN_AGE_HOURS", default=24)
# A running workspace with no request through its routes and no CPU use for this long is stopped (0: never).
WORKSPACE_IDLE_STOP_MINUTES = env.int("WORKSPACE_IDLE_STOP_MINUTES", default=0)
# CPU use (percent of one core, as the agent reports it) below which a container counts as idle.
WORKSPACE_IDLE_CPU_PERCENT = env.float("WORKSPACE_IDLE_CPU_PERCENT", default=2.0)
# A workspace provisioning or deleting for longer than this is stuck; the reconciler finishes or undoes it.
RECONCILE_STUCK_MINUTES = env.int("RECONCILE_STUCK_MINUTES", default=30)
RECONCILE_INTERVAL_SECONDS = env.int("RECONCILE_INTERVAL_SECONDS", default=600)
RECONCILE_RUNS_KEEP_DAYS = env.int("RECONCILE_RUNS_KEEP_DAYS", default=30)  # history of runs kept

CELERY_BEAT_SCHEDULE.update(
    {
        "maintenance-reconcile": {
            "task": "maintenance.tasks.reconcile_task",
            "schedule": float(RECONCILE_INTERVAL_SECONDS),
        },
        "maintenance-purge-audit-logs": {
            "task": "maintenance.tasks.cleanup_audit_logs_task",
            "schedule": timedelta(days=1),
        },
        "maintenance-prune-images": {
            "task": "maintenance.tasks.cleanup_images_task",
            "schedule": timedelta(days=1),
        },
        "maintenance-purge-uploads": {
            "task": "maintenance.tasks.cleanup_uploads_task",
            "schedule": timedelta(hours=1),
        },
        "maintenance-stop-idle-workspaces": {
            "task": "maintenance.tasks.workspaces_stop_idle_task",
            "schedule": timedelta(minutes=5),
        },
    }
)

# --- live progress of long jobs (events/) ----------------------------------------
EVENTS_RETENTION_DAYS = env.int("EVENTS_RETENTION_DAYS", default=7)
# One SSE response lasts at most this long; the browser reconnects and resumes after its last event.
EVENTS_STREAM_SECONDS = env.int("EVENTS_STREAM_SECONDS", default=25)
CELERY_BEAT_SCHEDULE["events-purge"] = {"task": "events.tasks.events_purge_task", "schedule": 24 * 3600.0}

# --- heartbeats (mgmt/tasks.py, mgmt/health.py) ------------------------------------
# Beat sends a heartbeat to each queue this often; /api/health calls a worker or beat missing
# after three silent periods. Beat saves its schedule after every send, so its own last send shows.
HEARTBEAT_SECONDS = env.int("HEARTBEAT_SECONDS", default=30)
CELERY_BEAT_SYNC_EVERY = 1
CELERY_BEAT_SCHEDULE.update(
    {
        f"mgmt-heartbeat-{queue}": {
            "task": "mgmt.tasks.heartbeat",
            "schedule": float(HEARTBEAT_SECONDS),
            "args": [queue],
            "options": {"queue": queue, "expires": HEARTBEAT_SECONDS},
        }
        for queue in ("provisioning", "builds", "default")
    }
)
