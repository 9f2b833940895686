"""WSGI entry point: `gunicorn -c gunicorn.conf.py hostagent.wsgi` from the agent/ directory."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hostagent.settings")

application = get_wsgi_application()
