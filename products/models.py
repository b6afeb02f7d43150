from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

MAX_GATE_BUCKETS = 64
MAX_CHALLENGE_COST = 1_000_000


class AntiBot(models.TextChoices):
    """What a purchase of the product must carry (seckill/antibot/): nothing, a one-time purchase path, or a path
    that costs a solved proof-of-work challenge."""

    OFF = "off", "off"
    PATH = "path", "one-time purchase path"
    CHALLENGE = "challenge", "challenge + path"


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
        ]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"
