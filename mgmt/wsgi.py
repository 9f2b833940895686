import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mgmt.settings")
application = get_wsgi_application()

from mgmt.config_validation import validate_for_startup  # noqa: E402

validate_for_startup()
