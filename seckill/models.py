from django.conf import settings
from django.db import models
from django.db.models import Q

from products.models import Product


class Order(models.Model):
    """A sale the logic layer decided and committed. One live (confirmed) order per buyer per product."""

    class Status(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed"
        CANCELLED = "cancelled", "Cancelled"

    # The purchase request's id, which is also the Celery task id: a redelivered task finds its order here.
    request_id = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="seckill_orders")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="orders")
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CONFIRMED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "product"],
                condition=Q(status="confirmed"),
                name="order_one_live_per_buyer_product",
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_quantity_gte_1"),
        ]

    def __str__(self) -> str:
        return f"Order #{self.pk} ({self.user_id} x{self.quantity} of {self.product_id})"
