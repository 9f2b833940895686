from tests.matrix import Row, public

ROWS = [
    Row("health", "GET", public(200)),
    Row("schema", "GET", public(200)),
    Row("api-docs", "GET", public(200)),
    Row("api-docs-redirect", "GET", public(301)),
    Row("api-root", "GET", public(200)),
]
