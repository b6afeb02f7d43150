"""The sale's admin: orders (read, cancel, export), payment events, blacklists, and the products with their live
stock and reconciliation. Every change goes through the services, never around them."""

from seckill.admin import blacklist_admin, login, order_admin, payment_admin, product_admin  # noqa: F401 (registers)
