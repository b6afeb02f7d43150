"""DRF's paginators, strict about their query parameters: a page size or offset that is no whole number in range is
a 400 (DRF falls back to the default page instead, which hides a client's mistake and is not what the schema
says). Sizes above the maximum are still cut to it, as DRF does (the schema says so)."""

from __future__ import annotations

import re

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination, LimitOffsetPagination

_WHOLE = re.compile(r"[0-9]+")
MAX_OFFSET = 2**63 - 1  # what a database's OFFSET takes


def _whole_number(request, name: str, *, minimum: int, cut_to: int | None = None, maximum: int | None = None):
    """The query parameter `name` as a whole number >= minimum, cut to `cut_to` or at most `maximum`; None when
    absent. Raises ValidationError (a 400)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not _WHOLE.fullmatch(raw):
        raise ValidationError({name: [f"A whole number, at least {minimum}."]})
    value = int(raw) if len(raw) <= 19 else MAX_OFFSET + 1  # (a longer one only needs to be known as large)
    if value < minimum or (maximum is not None and value > maximum):
        raise ValidationError({name: [f"A whole number from {minimum} to {maximum or 'any'}."]})
    return min(value, cut_to) if cut_to is not None else value


class StrictCursorPagination(CursorPagination):
    def get_page_size(self, request):
        size = _whole_number(request, self.page_size_query_param, minimum=1, cut_to=self.max_page_size)
        return self.page_size if size is None else size


class StrictLimitOffsetPagination(LimitOffsetPagination):
    def get_limit(self, request):
        limit = _whole_number(request, self.limit_query_param, minimum=1, cut_to=self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request):
        offset = _whole_number(request, self.offset_query_param, minimum=0, maximum=MAX_OFFSET)
        return 0 if offset is None else offset
