"""The sale's admin, registered room by room (Django's admin looks for an app's `admin` module): orders and payment
events (seckill/orders/admin.py), blacklists and the throttled login page (seckill/access/), and the products with
their live stock and reconciliation (seckill/catalogue/admin.py). Every change goes through the services."""

from seckill.access import admin as access_admin  # noqa: F401 (registers)
from seckill.access import admin_login  # noqa: F401 (the login form)
from seckill.catalogue import admin as catalogue_admin  # noqa: F401
from seckill.orders import admin as orders_admin  # noqa: F401
