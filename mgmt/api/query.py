"""Query parameters are read as the schema says: each given once, and blank only where text.

DRF reads a query string like a form: a blank value of a number or a boolean
counts as "not given" (so `?hours=` quietly meant the default) and only the
last of repeated values is seen; text is trimmed before its length is checked.
Query serializers derive from `QuerySerializer`, which answers 400 naming the
parameter instead.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class QuerySerializer(serializers.Serializer):
    def to_internal_value(self, data: Any) -> Any:
        getlist = getattr(data, "getlist", None)
        if getlist is not None:
            errors: dict[str, list[str]] = {}
            for name, field in self.fields.items():
                values = getlist(name)
                if len(values) > 1:
                    errors[name] = ["Give this parameter once."]
                elif values == [""] and not isinstance(field, serializers.CharField):
                    errors[name] = ["A value is required."]
                elif values and len(values[0]) > (getattr(field, "max_length", None) or len(values[0])):
                    # Counted before trimming: the schema's maxLength is about what is sent.
                    errors[name] = [f"Ensure this value has at most {field.max_length} characters."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
