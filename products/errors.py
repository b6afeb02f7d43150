"""The catalogue's errors (each with its HTTP status)."""

from rest_framework import status

from seckill_site.errors import SeckillError


class ProductNotFound(SeckillError):
    code = "product_not_found"
    http_status = status.HTTP_404_NOT_FOUND
    default_detail = "No such product."
