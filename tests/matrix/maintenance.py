from tests.matrix import Row, admin_only

ROWS = [
    Row("maintenance:reconcile", "GET", admin_only()),
    # Queued after commit; the matrix's transaction never commits, so nothing runs.
    Row("maintenance:reconcile", "POST", admin_only(202), data=lambda ctx: {"dry_run": True}),
    Row("maintenance:reconcile-runs", "GET", admin_only()),
]
