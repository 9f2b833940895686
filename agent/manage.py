#!/usr/bin/env python3
"""The agent's Django command line (e.g. `python manage.py check`)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hostagent.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
