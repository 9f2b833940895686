"""Serializer fields that accept what the schema says, no more."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class StrictBooleanField(serializers.BooleanField):
    """`true` or `false` in a JSON body (DRF's own also takes 1, "yes", "on" …).

    A query string or a form has no booleans, only text: there the usual spellings
    ("true", "false", "1", "0" …) still count.
    """

    def to_internal_value(self, data: Any) -> bool:
        sent_as_text = hasattr(getattr(self.root, "initial_data", None), "getlist")
        if not sent_as_text and not isinstance(data, bool):
            self.fail("invalid", input=data)
        return super().to_internal_value(data)
