"""The domain error base, the errors every layer raises, and the one table from error code to HTTP status.

Each error carries a stable machine `code`. The apps define their own errors on this base (the catalogue's in
`products/errors.py`, the sale's in `seckill/errors.py`); the HTTP status of every code is in
`HTTP_STATUS_BY_CODE` below and nowhere else (`seckill_site.exception_handler` answers with it).
"""

from __future__ import annotations

from rest_framework import status


class SeckillError(Exception):
    code = "error"
    default_detail = "The request failed."

    def __init__(self, detail: str | None = None, *, errors: dict | None = None):
        self.detail = detail or self.default_detail
        self.errors = errors
        super().__init__(self.detail)


class InvalidRequest(SeckillError):
    code = "invalid_request"
    default_detail = "The request is malformed."


class PayloadTooLarge(SeckillError):
    code = "payload_too_large"
    default_detail = "The request body is too large."


class RateLimited(SeckillError):
    code = "rate_limited"
    default_detail = "Too many requests; slow down."

    def __init__(self, detail: str | None = None, *, retry_after: int = 1):
        super().__init__(detail)
        self.retry_after = retry_after


class Unavailable(SeckillError):
    code = "unavailable"
    default_detail = "The sale service is unavailable; nothing was sold. Try again."


class InternalError(SeckillError):
    code = "internal_error"
    default_detail = "Internal server error; nothing was sold."


HTTP_STATUS_BY_CODE: dict[str, int] = {
    "success": status.HTTP_200_OK,
    "pending": status.HTTP_202_ACCEPTED,
    "ignored": status.HTTP_200_OK,  # a payment event the webhook keeps and does nothing with
    "invalid_request": status.HTTP_400_BAD_REQUEST,
    "invalid_signature": status.HTTP_400_BAD_REQUEST,
    "stale_signature": status.HTTP_400_BAD_REQUEST,
    "not_authenticated": status.HTTP_401_UNAUTHORIZED,
    "authentication_failed": status.HTTP_401_UNAUTHORIZED,
    "permission_denied": status.HTTP_403_FORBIDDEN,
    "blacklisted": status.HTTP_403_FORBIDDEN,
    "forbidden_origin": status.HTTP_403_FORBIDDEN,
    "user_inactive": status.HTTP_403_FORBIDDEN,
    "not_found": status.HTTP_404_NOT_FOUND,
    "product_not_found": status.HTTP_404_NOT_FOUND,
    "order_not_found": status.HTTP_404_NOT_FOUND,
    "method_not_allowed": status.HTTP_405_METHOD_NOT_ALLOWED,
    "not_acceptable": status.HTTP_406_NOT_ACCEPTABLE,
    "sold_out": status.HTTP_409_CONFLICT,
    "already_purchased": status.HTTP_409_CONFLICT,
    "sale_not_started": status.HTTP_409_CONFLICT,
    "sale_ended": status.HTTP_409_CONFLICT,
    "sale_disabled": status.HTTP_409_CONFLICT,
    "stock_conflict": status.HTTP_409_CONFLICT,
    "order_expired": status.HTTP_409_CONFLICT,
    "order_cancelled": status.HTTP_409_CONFLICT,
    "order_paid": status.HTTP_409_CONFLICT,
    "already_paid": status.HTTP_409_CONFLICT,
    "amount_mismatch": status.HTTP_409_CONFLICT,  # a well-formed payment that is not the order's amount
    "payload_too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "unsupported_media_type": status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    "rate_limited": status.HTTP_429_TOO_MANY_REQUESTS,
    "busy": status.HTTP_429_TOO_MANY_REQUESTS,
    "internal_error": status.HTTP_500_INTERNAL_SERVER_ERROR,
    "unavailable": status.HTTP_503_SERVICE_UNAVAILABLE,
}


def http_status_for(code: str) -> int:
    return HTTP_STATUS_BY_CODE[code]


def error_for_code(code: str) -> SeckillError:
    """The domain error a stored outcome code stands for (InternalError for a code no loaded module defines)."""
    classes = {cls.code: cls for cls in _subclasses(SeckillError)}
    return classes.get(code, InternalError)()


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)
