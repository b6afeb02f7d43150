from datetime import timedelta

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

MAX_GATE_BUCKETS = 64
MAX_CHALLENGE_COST = 1_000_000
DEFAULT_WAITLIST = timedelta(hours=2)  # a draw's waitlist, after its end, when `waitlist_until` is empty


class AntiBot(models.TextChoices):
    """What a purchase of the product must carry (seckill/antibot/): nothing, a one-time purchase path, or a path
    that costs a solved proof-of-work challenge."""

    OFF = "off", "off"
    PATH = "path", "one-time purchase path"
    CHALLENGE = "challenge", "challenge + path"


class SaleMode(models.TextChoices):
    """How the stock is sold: to the first buyers to ask, or by a verifiable draw among those who entered during
    the window (seckill/draws/, docs/draw.md)."""

    FIRST_COME = "first_come", "first come, first served"
    DRAW = "draw", "draw among entrants"


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
    # A hot product's stock and admissions split over this many Redis slots, so over as many cluster nodes
    # (seckill/gate/buckets.py; docs/capacity.md says how many). Set before its sale starts.
    gate_buckets = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_GATE_BUCKETS)],
        help_text="Redis buckets of its stock: more than 1 spreads a hot product over a cluster's nodes. "
        "Set before the sale starts.",
    )
    anti_bot = models.CharField(
        max_length=16,
        choices=AntiBot.choices,
        default=AntiBot.OFF,
        help_text="What a purchase must carry: a one-time path (POST .../path/), or a path for a solved challenge.",
    )
    challenge_cost = models.PositiveIntegerField(
        default=20_000,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CHALLENGE_COST)],
        help_text="The challenge's work: at most this many key derivations, about half to all of them per "
        "solution (BENCHMARKS.md gives the seconds it takes a phone).",
    )
    path_lead_seconds = models.PositiveIntegerField(
        default=60,
        validators=[MaxValueValidator(86_400)],
        help_text="How long before the start buyers may solve the challenge and take a purchase path.",
    )
    max_admissions_per_second = models.PositiveIntegerField(
        default=0,
        help_text="At most this many purchase requests a second reach the workers (0: no cap); more are "
        "answered 429 busy.",
    )
    sale_mode = models.CharField(
        max_length=16,
        choices=SaleMode.choices,
        default=SaleMode.FIRST_COME,
        help_text="first come, or a draw among those who enter during the window (held at its end). "
        "Set before the sale starts.",
    )
    waitlist_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A draw's waitlist: until then a lapsed winner's unit goes to the next entrant in the draw's "
        "order (empty: two hours after the end).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(stock_left__gte=0), name="product_stock_left_gte_0"),
            models.CheckConstraint(condition=Q(stock_left__lte=F("stock_total")), name="product_stock_left_lte_total"),
            models.CheckConstraint(condition=Q(per_user_limit__gte=1), name="product_per_user_limit_gte_1"),
            models.CheckConstraint(condition=Q(end_time__gt=F("start_time")), name="product_window_ordered"),
            models.CheckConstraint(
                condition=Q(gate_buckets__gte=1, gate_buckets__lte=MAX_GATE_BUCKETS), name="product_gate_buckets_range"
            ),
            models.CheckConstraint(condition=Q(anti_bot__in=AntiBot.values), name="product_anti_bot_valid"),
            models.CheckConstraint(
                condition=Q(challenge_cost__gte=1, challenge_cost__lte=MAX_CHALLENGE_COST),
                name="product_challenge_cost_range",
            ),
            models.CheckConstraint(condition=Q(sale_mode__in=SaleMode.values), name="product_sale_mode_valid"),
            # A draw is held in one Redis slot: its entries are one hash.
            models.CheckConstraint(
                condition=Q(sale_mode=SaleMode.FIRST_COME) | Q(gate_buckets=1), name="product_draw_one_bucket"
            ),
            models.CheckConstraint(
                condition=Q(waitlist_until__isnull=True) | Q(waitlist_until__gte=F("end_time")),
                name="product_waitlist_after_end",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"

    @property
    def is_draw(self) -> bool:
        return self.sale_mode == SaleMode.DRAW

    @property
    def waitlist_closes(self):
        """When a draw's waitlist closes: `waitlist_until`, or two hours after the end."""
        return self.waitlist_until or self.end_time + DEFAULT_WAITLIST
