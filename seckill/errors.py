"""The sale's errors (each with its HTTP status), and the infrastructure
errors the sale treats as "try again"."""

from __future__ import annotations

import kombu.exceptions
import redis
from django import db
from rest_framework import status

from seckill_site.errors import RateLimited, SeckillError

# Redis refused a write and wrote nothing: full (maxmemory with noeviction) or a read-only replica. Redis checks
# both before a script's first write only, so a script refused this way changed nothing.
REDIS_REFUSED_WRITE = (redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError)
# Redis or the broker failed the call: unreachable, timed out, full, read-only, or any other error of Redis'
# (the web side answers each of them 503 or `pending`, never a 500).
BROKER_ERRORS = (kombu.exceptions.OperationalError, redis.RedisError, ConnectionError)


def redis_refused_write(exc: BaseException) -> bool:
    """Whether Redis refused the call's first write, so that the call changed nothing (REDIS_REFUSED_WRITE; Redis
    6 reports it inside a script's error, "... -OOM command not allowed ...")."""
    if isinstance(exc, REDIS_REFUSED_WRITE):
        return True
    text = str(exc) if isinstance(exc, redis.ResponseError) else ""
    return text.startswith("Error running script") and (" -OOM " in text or " -READONLY " in text)


# Worth a retry of the task: the database or Redis may answer a moment later.
TRANSIENT_ERRORS = (
    db.OperationalError,
    db.InterfaceError,
    kombu.exceptions.OperationalError,
    redis.ConnectionError,
    redis.TimeoutError,
    ConnectionError,
    *REDIS_REFUSED_WRITE,
)


class SoldOut(SeckillError):
    code = "sold_out"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "The product is sold out."


class AlreadyPurchased(SeckillError):
    code = "already_purchased"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "You already hold an order for this product."


class SaleNotStarted(SeckillError):
    code = "sale_not_started"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "The sale has not started yet."


class SaleEnded(SeckillError):
    code = "sale_ended"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "The sale has ended."


class SaleDisabled(SeckillError):
    code = "sale_disabled"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "The sale is disabled."


class UserInactive(SeckillError):
    code = "user_inactive"
    http_status = status.HTTP_403_FORBIDDEN
    default_detail = "This account is inactive or no longer exists."


class SaleStarted(SeckillError):
    code = "sale_started"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "Set before the sale starts: this product's sale has started, or it has orders."


class StockConflict(SeckillError):
    code = "stock_conflict"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "The stock cannot be changed that way."


class Blacklisted(SeckillError):
    code = "blacklisted"
    http_status = status.HTTP_403_FORBIDDEN
    default_detail = "This account or address may not buy."


class ForbiddenOrigin(SeckillError):
    code = "forbidden_origin"
    http_status = status.HTTP_403_FORBIDDEN
    default_detail = "Requests from this origin are not accepted."


class Busy(RateLimited):
    code = "busy"
    http_status = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "Too many buyers at once; try again in a moment."


class OrderNotFound(SeckillError):
    code = "order_not_found"
    http_status = status.HTTP_404_NOT_FOUND
    default_detail = "No such order."


class OrderExpired(SeckillError):
    code = "order_expired"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "The order expired unpaid; its units went back on sale."


class OrderCancelled(SeckillError):
    code = "order_cancelled"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "The order was cancelled; its units went back on sale."


class OrderPaid(SeckillError):
    code = "order_paid"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "The order is paid and can no longer be cancelled."


class InvalidSignature(SeckillError):
    code = "invalid_signature"
    http_status = status.HTTP_400_BAD_REQUEST
    default_detail = "The Seckill-Signature header is missing or does not match the body."


class StaleSignature(SeckillError):
    code = "stale_signature"
    http_status = status.HTTP_400_BAD_REQUEST
    default_detail = "The signature's timestamp is too old (or in the future)."


class AlreadyPaid(SeckillError):
    code = "already_paid"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "The order was paid already: this payment is kept for a refund."


class AmountMismatch(SeckillError):
    code = "amount_mismatch"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "The amount paid is not the order's amount."
