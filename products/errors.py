"""The catalogue's errors (each with its HTTP status)."""

from rest_framework import status

from seckill_site.errors import SeckillError


class ProductNotFound(SeckillError):
    code = "product_not_found"
    http_status = status.HTTP_404_NOT_FOUND
    default_detail = "No such product."


class WaitlistBeforeEnd(SeckillError):
    code = "waitlist_before_end"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "The product's draw waitlist would close before its new end: set waitlist_until with it."
