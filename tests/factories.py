from __future__ import annotations

import factory

from accounts.models import User, UserStatus, UserType

TEST_PASSWORD = "correct-horse-battery-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    user_type = UserType.REGULAR
    is_approved = True
    status = UserStatus.ACTIVE
    password = factory.django.Password(TEST_PASSWORD)

    class Params:
        admin = factory.Trait(user_type=UserType.ADMIN, is_superuser=True)
        qvp = factory.Trait(user_type=UserType.QVP)
        pending = factory.Trait(is_approved=False, status=UserStatus.PENDING)
        disabled = factory.Trait(status=UserStatus.DISABLED, is_active=False)
        rejected = factory.Trait(is_approved=False, status=UserStatus.REJECTED)

    @factory.post_generation
    def role_groups(obj: User, create: bool, extracted, **kwargs) -> None:
        """Operators join their role group, as the services do."""
        if create:
            from accounts.roles import user_role_sync

            user_role_sync(user=obj)


class ServerFactory(factory.django.DjangoModelFactory):
    """A Docker host row. By default nothing answers at its address (agent_port 1): pass the
    port and secret of a real agent (`agent_port=agent.port, agent_secret=agent.secret`) when
    the test talks to one."""

    class Meta:
        model = "servers.Server"

    name = factory.Sequence(lambda n: f"server{n}")
    address = "127.0.0.1"
    agent_port = 1
    agent_secret = "s" * 32


class WorkspaceFactory(factory.django.DjangoModelFactory):
    """A workspace row (status `pending`, no server, unless given), built directly — no saga runs."""

    class Meta:
        model = "containers.Workspace"

    owner = factory.SubFactory(UserFactory)
    image = "x"
