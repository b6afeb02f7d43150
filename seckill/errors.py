"""Domain errors. Each carries a stable machine `code`; the HTTP status for each code lives in one table,
`seckill.exception_handler.HTTP_STATUS_BY_CODE`, and nowhere else."""
from __future__ import annotations


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


class ProductNotFound(SeckillError):
    code = "product_not_found"
    default_detail = "No such product."


class SoldOut(SeckillError):
    code = "sold_out"
    default_detail = "The product is sold out."


class AlreadyPurchased(SeckillError):
    code = "already_purchased"
    default_detail = "You already hold an order for this product."


class SaleNotStarted(SeckillError):
    code = "sale_not_started"
    default_detail = "The sale has not started yet."


class SaleEnded(SeckillError):
    code = "sale_ended"
    default_detail = "The sale has ended."


class SaleDisabled(SeckillError):
    code = "sale_disabled"
    default_detail = "The sale is disabled."


class UserInactive(SeckillError):
    code = "user_inactive"
    default_detail = "This account is inactive or no longer exists."


class StockConflict(SeckillError):
    code = "stock_conflict"
    default_detail = "The stock cannot be changed that way."


class Unavailable(SeckillError):
    code = "unavailable"
    default_detail = "The sale service is unavailable; nothing was sold. Try again."


class Blacklisted(SeckillError):
    code = "blacklisted"
    default_detail = "This account or address may not buy."


class ForbiddenOrigin(SeckillError):
    code = "forbidden_origin"
    default_detail = "Requests from this origin are not accepted."


class RateLimited(SeckillError):
    code = "rate_limited"
    default_detail = "Too many requests; slow down."

    def __init__(self, detail: str | None = None, *, retry_after: int = 1):
        super().__init__(detail)
        self.retry_after = retry_after


class Busy(RateLimited):
    code = "busy"
    default_detail = "Too many buyers at once; try again in a moment."


class PayloadTooLarge(SeckillError):
    code = "payload_too_large"
    default_detail = "The request body is too large."


class InternalError(SeckillError):
    code = "internal_error"
    default_detail = "Internal server error; nothing was sold."


def error_for_code(code: str) -> SeckillError:
    """The domain error a stored outcome code stands for (InternalError for a code we do not know)."""
    classes = {cls.code: cls for cls in _subclasses(SeckillError)}
    return classes.get(code, InternalError)()


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)
