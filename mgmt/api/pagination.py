from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class StandardPagination(PageNumberPagination):
    """`?page=N&page_size=M`; the page (count, next, previous, results) goes in `data`.

    What the schema says is what is accepted: `page` and `page_size` are whole numbers (at least 1;
    `page_size` at most `max_page_size`), given once, or the answer is a 400 instead of a silent
    default; a page past the last one is a 404.
    """

    page_size_query_param = "page_size"
    max_page_size = 500
    last_page_strings = ()

    def _number(self, request: Request, name: str, maximum: int | None = None) -> int | None:
        raw = request.query_params.getlist(name)
        if not raw:
            return None
        value = raw[0]
        if len(raw) > 1 or not (value.isascii() and value.isdigit()) or int(value) < 1:
            raise ValidationError({name: ["A whole number, at least 1, given once."]})
        if maximum is not None and int(value) > maximum:
            raise ValidationError({name: [f"At most {maximum}."]})
        return int(value)

    def get_page_size(self, request: Request) -> int | None:
        size = self._number(request, self.page_size_query_param, self.max_page_size)
        return self.page_size if size is None else size

    def get_page_number(self, request: Request, paginator: Any) -> int:
        return self._number(request, self.page_query_param) or 1

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        page = super().get_paginated_response_schema(schema)
        for link in ("next", "previous"):  # OpenAPI 3.1: null is a type, `nullable` is gone
            field = page["properties"][link]
            field.pop("nullable", None)
            field["type"] = ["string", "null"]
        return page

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
        return parameters
