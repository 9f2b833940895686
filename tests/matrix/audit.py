from tests.matrix import Row, admin_only

ROWS = [
    Row("audit:audit-log-list", "GET", admin_only()),
    Row("audit:audit-log-export", "GET", admin_only()),
]
