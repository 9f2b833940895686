from tests.factories import TEST_PASSWORD
from tests.matrix import Row, admin_only, expect, owner_or_admin, public

ROWS = [
    Row(
        "accounts:register",
        "POST",
        public(201),
        data=lambda ctx: {"email": "dave@example.com", "username": "dave", "password": "a-Long-passphrase-9"},
    ),
    Row(
        "accounts:login",
        "POST",
        public(200),
        data=lambda ctx: {"email": ctx.alice.email, "password": TEST_PASSWORD},
    ),
    Row("accounts:logout", "POST", expect(anonymous=401, alice=200, bob=200, qvp=200, admin=200)),
    Row("accounts:me", "GET", expect(anonymous=401, alice=200, bob=200, qvp=200, admin=200)),
    Row("accounts:admin-user-list", "GET", admin_only()),
    Row("accounts:user-detail", "GET", owner_or_admin(), kwargs=lambda ctx: {"pk": ctx.alice.pk}),
    Row(
        "accounts:user-detail",
        "PATCH",
        owner_or_admin(),
        kwargs=lambda ctx: {"pk": ctx.alice.pk},
        data=lambda ctx: {"email": "alice.new@example.com"},
    ),
    Row(
        "accounts:user-detail",
        "DELETE",
        # The role check comes first: non-admins learn nothing about the object.
        expect(anonymous=401, alice=403, bob=403, qvp=403, admin=200),
        kwargs=lambda ctx: {"pk": ctx.alice.pk},
    ),
    Row(
        "accounts:admin-user-reset-password",
        "POST",
        admin_only(),
        kwargs=lambda ctx: {"pk": ctx.alice.pk},
        data=lambda ctx: {"password": "another-Long-passphrase-7"},
    ),
    Row(
        "accounts:admin-user-reject",
        "POST",
        admin_only(),
        kwargs=lambda ctx: {"pk": ctx.carol.pk},
        data=lambda ctx: {"reason": "Unknown to the team."},
    ),
]
