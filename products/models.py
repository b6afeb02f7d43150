from django.db import models
from django.db.models import F, Q


class Product(models.Model):
    """A flash-sale product.

    `stock_left` is the ledger: units not yet sold in committed orders. During a sale the live figure lives in
    Redis (the gate) and runs at or below this one; see `seckill.gate`.
    """

    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField()
    stock_total = models.PositiveIntegerField()
    stock_left = models.PositiveIntegerField()
    per_user_limit = models.PositiveIntegerField(default=1)
    is_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(stock_left__gte=0), name="product_stock_left_gte_0"),
            models.CheckConstraint(condition=Q(stock_left__lte=F("stock_total")), name="product_stock_left_lte_total"),
            models.CheckConstraint(condition=Q(per_user_limit__gte=1), name="product_per_user_limit_gte_1"),
            models.CheckConstraint(condition=Q(end_time__gt=F("start_time")), name="product_window_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"
