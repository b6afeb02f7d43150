"""The catalogue's errors (their HTTP statuses: seckill_site.errors.HTTP_STATUS_BY_CODE)."""

from seckill_site.errors import SeckillError


class ProductNotFound(SeckillError):
    code = "product_not_found"
    default_detail = "No such product."
