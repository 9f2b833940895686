from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    """`?page=N&page_size=M`; the page (count, next, previous, results) goes in `data`."""

    page_size_query_param = "page_size"
    max_page_size = 500
