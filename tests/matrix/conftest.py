"""The matrix tests' context: the personas, their API clients and the objects rows set up."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory
from tests.matrix import Ctx


@pytest.fixture
def ctx(db, api_as) -> Ctx:
    users = {
        "alice": UserFactory(username="alice"),
        "bob": UserFactory(username="bob"),
        "qvp": UserFactory(username="quentin", qvp=True),
        "admin": UserFactory(username="ada", admin=True),
    }
    context = Ctx(users=users, extra={"carol": UserFactory(username="carol", pending=True)})
    context.extra["clients"] = {name: api_as(user) for name, user in users.items()}
    return context
