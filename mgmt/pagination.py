"""A paginator for tables too big to count (the audit log: a million rows and more)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

# Pages reach this many rows; past it, narrow the list (a date range, a filter) or export it.
COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """`count` is exact up to COUNT_CAP rows and COUNT_CAP beyond it.

    An exact COUNT(*) reads every matching index entry (a quarter of a second per million rows
    on InnoDB), and the deep OFFSET a far page needs costs as much; counting at most COUNT_CAP
    rows keeps both bounded whatever the table's size.
    """

    cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if hasattr(queryset, "order_by"):
            return queryset.order_by()[: self.cap].count()
        return min(len(queryset), self.cap)
