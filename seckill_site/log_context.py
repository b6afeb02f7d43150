"""The purchase request a log line is about: bound while the web side handles a request and while the task runs
it, and written on every line (`request_id`; "-" elsewhere), so that one purchase can be followed across the web
and worker processes. LOG_FORMAT=json writes each line as one JSON object (python-json-logger)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


@contextmanager
def request_id_bound(request_id: str) -> Iterator[None]:
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        return True
