"""Test settings: the real stack (MariaDB, Redis) unless the environment says otherwise.

Each test run may pick its own database name and Redis database through
DATABASE_URL / REDIS_URL, so two runs on one machine never share state.
"""

import os

os.environ.setdefault("DATABASE_URL", "mysql://mgmt:mgmt@127.0.0.1:3306/mgmt")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("WORKSPACE_READY_TIMEOUT", "30")  # a broken test image fails fast
os.environ["STACK_ENV_FILE"] = ""  # a running `make run` stack never leaks into the tests
os.environ.setdefault("REGISTER_RATE_LIMIT", "")  # tests sign up many accounts; the limit has its own test

from mgmt.settings import *  # noqa: F403

# Fast hashing in tests; the production hashers are tested explicitly.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]  # noqa: F405
CACHES["default"]["KEY_PREFIX"] = f"test-{os.getpid()}"  # noqa: F405
