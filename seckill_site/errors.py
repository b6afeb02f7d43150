"""The domain error base, the errors every layer raises, and the lookup from an answer's code to its HTTP status.

Each error carries a stable machine `code` and its `http_status`. The apps define their own errors on this base
(the catalogue's in `products/errors.py`, the sale's in `seckill/errors.py`) and register the codes of their
answers that are no error (answer_codes_register); `http_status_for` finds any of them, and DRF's own errors'
(`seckill_site.exception_handler` answers with it).
"""

from __future__ import annotations

from rest_framework import status


class SeckillError(Exception):
    code = "error"
    http_status = status.HTTP_400_BAD_REQUEST  # each error declares its own
    default_detail = "The request failed."

    def __init__(self, detail: str | None = None, *, errors: dict | None = None):
        self.detail = detail or self.default_detail
        self.errors = errors
        super().__init__(self.detail)


class InvalidRequest(SeckillError):
    code = "invalid_request"
    http_status = status.HTTP_400_BAD_REQUEST
    default_detail = "The request is malformed."


class PayloadTooLarge(SeckillError):
    code = "payload_too_large"
    http_status = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."


class RateLimited(SeckillError):
    code = "rate_limited"
    http_status = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "Too many requests; slow down."

    def __init__(self, detail: str | None = None, *, retry_after: int = 1):
        super().__init__(detail)
        self.retry_after = retry_after


class Unavailable(SeckillError):
    code = "unavailable"
    http_status = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The sale service is unavailable; nothing was sold. Try again."


class InternalError(SeckillError):
    code = "internal_error"
    http_status = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_detail = "Internal server error; nothing was sold."


# The codes of DRF's own errors (seckill_site.exception_handler maps DRF's exceptions to them) and their statuses.
DRF_ERROR_STATUSES: dict[str, int] = {
    "invalid_request": status.HTTP_400_BAD_REQUEST,
    "not_authenticated": status.HTTP_401_UNAUTHORIZED,
    "authentication_failed": status.HTTP_401_UNAUTHORIZED,
    "permission_denied": status.HTTP_403_FORBIDDEN,
    "not_found": status.HTTP_404_NOT_FOUND,
    "method_not_allowed": status.HTTP_405_METHOD_NOT_ALLOWED,
    "not_acceptable": status.HTTP_406_NOT_ACCEPTABLE,
    "unsupported_media_type": status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    "rate_limited": status.HTTP_429_TOO_MANY_REQUESTS,
}

# Codes of answers that are no error (a purchase's `success`, `pending`...), each registered by the app that answers
# it (answer_codes_register).
_answer_statuses: dict[str, int] = {}


def answer_codes_register(statuses: dict[str, int]) -> None:
    """Declare the HTTP status of answer codes that are no error (the errors carry their own)."""
    _answer_statuses.update(statuses)


def http_status_for(code: str) -> int:
    """The HTTP status of an answer code: the error class's own, DRF's, or the registered answer's. KeyError for
    a code nothing declares."""
    found = _status_by_code.get(code)
    return found if found is not None else http_statuses()[code]


def http_statuses() -> dict[str, int]:
    """Every answer code declared so far and its HTTP status: each loaded error class's own, DRF's errors', and the
    registered answers'."""
    statuses = {**DRF_ERROR_STATUSES, **_answer_statuses}
    for cls in _subclasses(SeckillError):
        statuses[cls.code] = cls.http_status
    _status_by_code.update(statuses)
    return statuses


_status_by_code: dict[str, int] = {}  # http_status_for's memory: codes never change status


def error_for_code(code: str) -> SeckillError:
    """The domain error a stored outcome code stands for (InternalError for a code no loaded module defines)."""
    classes = {cls.code: cls for cls in _subclasses(SeckillError)}
    return classes.get(code, InternalError)()


def _subclasses(cls):
    """The errors below `cls` that declare a code of their own (a group's base, such as a path's refusals', has
    none)."""
    for sub in cls.__subclasses__():
        if "code" in vars(sub):
            yield sub
        yield from _subclasses(sub)
