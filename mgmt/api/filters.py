"""The base FilterSet: a query parameter is accepted exactly when the schema says it is valid.

django-filter treats a blank value as "no filter" and quietly uses the first of
repeated values, so `?level=` or `?since=&since=x` answered 200 although the
schema calls them invalid. Here a filter given twice, or blank when it is not
a text filter, is a 400 naming the parameter; a text filter's `max_length`
shows in the schema as `maxLength`.
"""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import extend_schema_field


class StrictFilterSet(django_filters.FilterSet):
    @classmethod
    def get_filters(cls) -> dict[str, Any]:
        # Called by the FilterSet metaclass as it builds `base_filters` (a subclass hook would run
        # before they exist, and the schema would not know any maxLength).
        filters = super().get_filters()
        for filter_ in filters.values():
            max_length = filter_.extra.get("max_length")
            if isinstance(filter_, django_filters.CharFilter) and max_length:
                extend_schema_field({"type": "string", "maxLength": max_length})(filter_)
        return filters

    def is_valid(self) -> bool:
        valid = super().is_valid()
        getlist = getattr(self.data, "getlist", None)
        if getlist is None:
            return valid
        for name, filter_ in self.filters.items():
            values = getlist(name)
            if len(values) > 1:
                self.form.add_error(name, "Give this filter once.")
            elif values and values[0] == "" and not isinstance(filter_, django_filters.CharFilter):
                self.form.add_error(name, "A value is required.")
            elif values and len(values[0]) > (filter_.extra.get("max_length") or len(values[0])):
                self.form.add_error(name, "Too long.")  # counted before the form trims it
        return valid and not self.form.errors
