import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mgmt.settings")
application = get_asgi_application()

from mgmt.config_validation import validate_for_startup  # noqa: E402

validate_for_startup()
