from django.conf import settings
from django.db import models
from django.db.models import Q

from products.models import Product


class Order(models.Model):
    """A sale the logic layer decided and committed, and its life after: paid, or expired or cancelled (which give
    the units back). One live order (pending payment or paid) per buyer per product."""

    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", "Pending payment"
        PAID = "paid", "Paid"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"

    LIVE = (Status.PENDING_PAYMENT, Status.PAID)  # hold units; expired and cancelled are final and gave them back

    # The purchase request's id, which is also the Celery task id: a redelivered task finds its order here.
    request_id = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="seckill_orders")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="orders")
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING_PAYMENT)
    created_at = models.DateTimeField(auto_now_add=True)
    # Unpaid by then, the order expires (SECKILL_PAYMENT_WINDOW after its sale; empty: born paid).
    pay_by = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When it expired or was cancelled.")
    # An expired or cancelled order's units are back in the ledger at once, in the Redis gate when this is set.
    gate_released = models.BooleanField(default=False)

    class Meta:
        ordering = ["-id"]
        # Orders are read in the admin, never edited: cancelling one is a permission of its own.
        permissions = [("cancel_order", "Can cancel unpaid orders (their units go back on sale)")]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "product"],
                condition=Q(status__in=["pending_payment", "paid"]),
                name="order_one_live_per_buyer_product",
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_quantity_gte_1"),
        ]
        indexes = [
            models.Index(fields=["status", "pay_by"], name="order_status_pay_by"),
            models.Index(fields=["product", "status"], name="order_product_status"),
        ]

    def __str__(self) -> str:
        return f"Order #{self.pk} ({self.user_id} x{self.quantity} of {self.product_id}, {self.status})"

    @property
    def amount(self):
        return self.unit_price * self.quantity


class PaymentEvent(models.Model):
    """A payment provider's webhook call, kept by its event id: a replay gets the first answer, and money that paid
    no order (a second payment, a wrong amount, an unknown, expired or cancelled order) stays visible until
    someone refunds it."""

    event_id = models.CharField(max_length=128, unique=True)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="payment_events")
    order_ref = models.CharField(max_length=32, help_text="The order id the provider sent.")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    provider_status = models.CharField(max_length=32)
    paid_at = models.DateTimeField(null=True, blank=True, help_text="When the provider says the payment was made.")
    code = models.CharField(max_length=32, help_text="What we answered.")
    needs_refund = models.BooleanField(
        default=False, help_text="Money received that paid no order (see the code): refund it, then set refunded at."
    )
    refunded_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.code})"


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


class Draw(models.Model):
    """A product sold by draw (products.models.SaleMode.DRAW): its secret seed, committed to by its SHA-256 before
    the window opens, and once drawn what anyone needs to check the winners (seckill/draws/fairness.py,
    docs/draw.md). Drawn once: `drawn_at` is set in the transaction that writes the entries and the winners'
    orders."""

    product = models.OneToOneField(Product, on_delete=models.PROTECT, related_name="draw")
    seed = models.CharField(max_length=64, help_text="64 hex digits, secret until the draw.")
    seed_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the seed (its ASCII), public from the start.")
    entries_digest = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the sorted entry codes.")
    entries_count = models.PositiveIntegerField(default=0)
    units = models.PositiveIntegerField(default=0, help_text="The units the draw shared out (the ledger's, then).")
    winners = models.PositiveIntegerField(default=0, help_text="Orders the draw itself made.")
    passed_over = models.PositiveIntegerField(default=0, help_text="Entrants the ledger refused at their turn.")
    # The waitlist: the rank in the draw's order of the next entrant to get a unit that comes back.
    next_rank = models.PositiveIntegerField(default=0)
    drawn_at = models.DateTimeField(null=True, blank=True)
    draw_seconds = models.FloatField(null=True, blank=True, help_text="How long the draw took.")
    # The entries live in Redis only until the draw: a gate loaded again while entries could have been made (its
    # data lost) may have lost some, and the draw waits for an operator (docs/draw.md).
    gate_loaded_at = models.DateTimeField(null=True, blank=True, help_text="When Redis first held the product.")
    gate_lost_at = models.DateTimeField(
        null=True, blank=True, help_text="Redis lost the product during its entries: the draw waits until cleared."
    )
    gate_synced = models.BooleanField(default=True, help_text="False until Redis holds the draw's orders.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Draw of product {self.product_id}" + (" (drawn)" if self.drawn_at else "")


class DrawEntry(models.Model):
    """A buyer's entry to a draw, written by the draw from the entries Redis took during the window: its random
    code, its rank in the draw's order (0 first; the first ranks win, the next are the waitlist in that order)
    and the order it won, if any."""

    draw = models.ForeignKey(Draw, on_delete=models.PROTECT, related_name="entries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="draw_entries")
    code = models.CharField(max_length=32)
    rank = models.PositiveIntegerField()
    order = models.OneToOneField(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="draw_entry")

    class Meta:
        verbose_name_plural = "draw entries"
        constraints = [
            models.UniqueConstraint(fields=["draw", "user"], name="draw_entry_one_per_buyer"),
            models.UniqueConstraint(fields=["draw", "code"], name="draw_entry_code_unique"),
            models.UniqueConstraint(fields=["draw", "rank"], name="draw_entry_rank_unique"),
        ]

    def __str__(self) -> str:
        return f"Entry {self.code} of {self.draw_id} (rank {self.rank})"
