from tests.matrix import Row, operators

ROWS = [
    Row("traffic:traffic", "GET", operators()),
]
