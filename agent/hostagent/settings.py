"""Django settings of the agent: no database, no sessions, no auth apps.

Everything the agent needs is in `AGENT` (see `config.py`), read from the
environment at start-up; a bad environment stops the process with every
problem listed.
"""

from __future__ import annotations

import os
import secrets

from .config import AgentConfig

AGENT = AgentConfig.from_env()

# Nothing is signed with it (no sessions, no cookies); Django only requires one.
SECRET_KEY = os.environ.get("AGENT_DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = False
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("AGENT_ALLOWED_HOSTS", "*").split(",") if h.strip()]
ROOT_URLCONF = f"{__package__}.urls"
WSGI_APPLICATION = "hostagent.wsgi.application"
INSTALLED_APPS = ["rest_framework"]
MIDDLEWARE = [f"{__package__}.auth.SignatureMiddleware"]
DATABASES: dict = {}
APPEND_SLASH = False
USE_TZ = True
TIME_ZONE = "UTC"
# The signature middleware already bounds and spools the body.
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],  # requests are authenticated by SignatureMiddleware
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": [f"{__package__}.errors.EnvelopeRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": f"{__package__}.errors.exception_handler",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": os.environ.get("AGENT_LOG_LEVEL", "INFO").upper()},
    # Docker's and urllib3's debug lines may carry request details; keep them quiet.
    "loggers": {"docker": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}
