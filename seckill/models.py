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


class BlacklistEntry(models.Model):
    """A buyer or an address (a CIDR range too) that may not buy. Mirrored to Redis for the access layer."""

    class Kind(models.TextChoices):
        USER = "user", "User id"
        IP = "ip", "IP address or CIDR range"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    value = models.CharField(max_length=64, help_text="A user id, or an IP address / CIDR range (10.0.0.0/8).")
    reason = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until removed.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "value"]
        verbose_name_plural = "blacklist entries"
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="blacklist_one_entry_per_value")]

    def __str__(self) -> str:
        return f"{self.kind} {self.value}"
