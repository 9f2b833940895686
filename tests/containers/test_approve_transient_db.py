"""Issue #14's "one unexplained 500": an approval that MariaDB picks as a deadlock victim, or
that waits too long for a row lock, under approvals and other writers at once.

Both conditions are made on purpose, with a second real connection holding the rows the
other way round, and waiting (no sleeps) until the approval is stuck behind it
(information_schema.INNODB_LOCK_WAITS). A deadlock victim runs again and is approved (202);
a lock wait timeout is a clear 503 with the envelope, never a 500.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from accounts.models import User, UserStatus
from audit.models import AuditLog
from containers.models import Workspace, WorkspaceStatus
from containers.services import workspace_mark_active
from servers.models import Server, ServerStatus
from tests.factories import ServerFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db(transaction=True)


def someone_waits_for(cursor, timeout: float = 30) -> bool:
    """True once another transaction waits for a row lock held by the transaction of
    `cursor`'s connection (polled, not slept on)."""
    deadline = time.monotonic() + timeout
    cursor.execute(
        "SELECT trx_id FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = CONNECTION_ID()"
    )
    mine = cursor.fetchone()[0]
    while time.monotonic() < deadline:
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.INNODB_LOCK_WAITS WHERE blocking_trx_id = %s", [mine]
        )
        if cursor.fetchone()[0]:
            return True
        # The server refreshes these tables only after 0.1 s without a read: ask less often.
        time.sleep(0.25)
    return False


def deadlocks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")
        return int(cursor.fetchone()[1])


class Rival(threading.Thread):
    """Another client's transaction, on a MySQL connection of its own (not Django's): the
    statements `first` run at once, `then` (if any) once another transaction (the approval's)
    waits for a lock `first` took; the locks are held until `release`, then rolled back."""

    def __init__(self, first: list[tuple[str, list]], then: list[tuple[str, list]] | None = None) -> None:
        super().__init__(daemon=True)
        self.first, self.then = first, then
        self.holding = threading.Event()
        self.saw_approval_wait = False
        self.error: BaseException | None = None
        self.release = threading.Event()
        params = connection.settings_dict
        self.connect = {
            "host": params["HOST"] or "127.0.0.1", "port": int(params["PORT"] or 3306),
            "user": params["USER"], "password": params["PASSWORD"], "database": params["NAME"],
        }  # fmt: skip

    def run(self) -> None:
        import MySQLdb

        db = MySQLdb.connect(**self.connect, autocommit=False)
        try:
            cursor = db.cursor()
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            for statement, args in self.first:
                cursor.execute(statement, args)
            self.holding.set()
            if self.then is not None:
                self.saw_approval_wait = someone_waits_for(cursor)
                for statement, args in self.then:
                    cursor.execute(statement, args)
                self.release.set()
            self.release.wait(60)
        except BaseException as exc:
            self.error = exc
        finally:
            self.holding.set()
            db.rollback()
            db.close()


def lock_row(model, pk: int) -> tuple[str, list]:
    return f"SELECT id FROM {model._meta.db_table} WHERE id = %s FOR UPDATE", [pk]


def touch(model, column: str, pks: list[int]) -> tuple[str, list]:
    marks = ", ".join(["%s"] * len(pks))
    return f"UPDATE {model._meta.db_table} SET {column} = CONCAT({column}, '~') WHERE id IN ({marks})", pks


def write(model, column: str, value: str, pk: int) -> tuple[str, list]:
    return f"UPDATE {model._meta.db_table} SET {column} = %s WHERE id = %s", [value, pk]


@pytest.fixture
def server() -> Server:
    return ServerFactory(name="deadlock", agent_port=1, status=ServerStatus.ONLINE, memory_total=64 * 1024**3)


def test_an_approval_picked_as_deadlock_victim_runs_again_and_is_approved(admin_api, server, workspace_dirs):
    person = UserFactory(pending=True)
    ballast = [UserFactory().pk for _ in range(20)]

    # The server row first (as a stats poll or an operator's edit does), and twenty other rows
    # changed: the rival weighs more, so MariaDB rolls the approval back, not it. Then the
    # person's row: the approval holds it and waits for the server row (the new workspace's
    # foreign key), so this closes the cycle.
    first = [write(Server, "status_detail", "busy", server.pk), touch(User, "redirect_url", ballast)]
    then = [lock_row(User, person.pk)]
    rival = Rival(first, then)
    rival.start()
    assert rival.holding.wait(30)
    before = deadlocks()
    answer = admin_api.post(
        f"/api/admin/users/{person.pk}/approve", {"memory": "256m", "server": server.pk}, format="json"
    )
    rival.release.set()
    rival.join(60)

    assert answer.status_code == 202, answer.json()
    assert rival.error is None, f"the rival, not the approval, was rolled back: {rival.error!r}"
    assert rival.saw_approval_wait, "the approval never waited for the rival's server row"
    assert deadlocks() > before  # a real deadlock happened, and the approval was its victim
    assert answer.status_code == 202, answer.json()
    assert answer.json()["success"] is True
    workspace = Workspace.objects.get(owner=person)
    assert workspace.server_id == server.pk
    person.refresh_from_db()
    assert person.status == UserStatus.ACTIVE and person.is_approved


def test_an_approval_that_waits_too_long_for_a_lock_is_a_clear_503(admin_api, server, workspace_dirs):
    person = UserFactory(pending=True)
    # The server row, held until the approval (holding the person's row) gives up waiting for it.
    rival = Rival([write(Server, "status_detail", "busy", server.pk)])
    rival.start()
    assert rival.holding.wait(30)
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
    try:
        answer = admin_api.post(
            f"/api/admin/users/{person.pk}/approve", {"memory": "256m", "server": server.pk}, format="json"
        )
    finally:
        rival.release.set()
        rival.join(60)
        connection.close()  # the short lock wait ends with this connection

    assert rival.error is None
    assert answer.status_code == 503
    body = answer.json()
    assert body["success"] is False and "database was busy (a lock wait timeout)" in body["message"]
    assert answer["Retry-After"] == "1"
    assert not Workspace.objects.filter(owner=person).exists()  # nothing half-done
    person.refresh_from_db()
    assert person.status == UserStatus.PENDING


def test_marking_active_picked_as_deadlock_victim_runs_again(server, workspace_dirs):
    """The saga's last step locks the workspace, then its owner: the other order than an
    approval's. Picked as the victim, it runs again and the owner's record is written once."""
    person = UserFactory(pending=True)
    workspace = WorkspaceFactory(
        owner=person, server=server, memory=256 * 1024**2, status=WorkspaceStatus.STARTING,
        container_name=person.username, vscode_port=21000, jupyter_port=21001, upstream_host="127.0.0.1",
    )  # fmt: skip
    ballast = [UserFactory().pk for _ in range(20)]

    # The owner first (as an approval does), and twenty other rows changed (the heavier side);
    # then the workspace, which marking active holds while it waits for the owner.
    first = [lock_row(User, person.pk), touch(User, "redirect_url", ballast)]
    then = [lock_row(Workspace, workspace.pk)]
    rival = Rival(first, then)
    rival.start()
    assert rival.holding.wait(30)
    before = deadlocks()
    marked = workspace_mark_active(workspace=Workspace.objects.get(pk=workspace.pk))
    rival.join(60)

    assert marked is True
    assert rival.error is None, f"the rival, not the saga, was rolled back: {rival.error!r}"
    assert rival.saw_approval_wait, "marking active never waited for the owner's row"
    assert deadlocks() > before
    workspace.refresh_from_db()
    person.refresh_from_db()
    assert workspace.status == WorkspaceStatus.ACTIVE and workspace.provisioned_at is not None
    assert person.metadata["workspace"]["vscode_port"] == 21000 and person.redirect_url
    assert (
        AuditLog.objects.filter(action_type="workspace.provision", target_id=str(workspace.pk)).count() == 1
    )


def test_approving_again_while_the_workspace_is_marked_active_is_not_a_500(admin_api, server, workspace_dirs):
    """The cycle the platform's own code makes: an approval locks the person, then their
    workspace; marking the workspace active (the saga's last step, in a worker or in an eager
    approval) locks the workspace, then the person. Approvals of one person sent at once on a
    loaded machine meet it; the approval has changed nothing yet, so MariaDB rolls it back."""
    person = UserFactory()
    workspace = WorkspaceFactory(
        owner=person, server=server, memory=256 * 1024**2, status=WorkspaceStatus.STARTING
    )
    ballast = [UserFactory().pk for _ in range(20)]  # the saga's side weighs more: the approval is the victim

    # workspace_mark_active's order: the workspace row (a conditional update), then the owner
    # (accounts.services.user_workspace_record).
    first = [
        write(Workspace, "status", WorkspaceStatus.ACTIVE, workspace.pk),
        touch(User, "redirect_url", ballast),
    ]
    then = [lock_row(User, person.pk)]
    rival = Rival(first, then)
    rival.start()
    assert rival.holding.wait(30)
    before = deadlocks()
    answer = admin_api.post(f"/api/admin/users/{person.pk}/approve", {}, format="json")
    rival.release.set()
    rival.join(60)

    assert answer.status_code == 202, answer.json()
    assert rival.error is None, f"the saga's side, not the approval, was rolled back: {rival.error!r}"
    assert rival.saw_approval_wait, "the approval never waited for the workspace row"
    assert deadlocks() > before
    assert answer.status_code == 202, answer.json()
    assert answer.json()["message"] == "Already approved."
    assert Workspace.objects.filter(owner=person).count() == 1
