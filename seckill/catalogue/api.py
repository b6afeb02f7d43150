"""The product endpoints: the catalogue with the sale's live stock (seckill.catalogue.services)."""

import hashlib
import re
from decimal import Decimal

from django.conf import settings
from django.core.validators import RegexValidator
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import SAFE_METHODS, DjangoModelPermissions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from products import selectors
from products.models import MAX_CHALLENGE_COST, AntiBot, Product, SaleMode
from seckill.catalogue import services as catalogue_services
from seckill.purchases import sale_cache
from seckill_site.integrations.drf_early_answer import view_with_early_answer
from seckill_site.openapi import error_responses
from seckill_site.pagination import MAX_OFFSET, StrictLimitOffsetPagination
from seckill_site.serializers import StrictSerializer

PAGE_MAX_AGE = max(1, int(settings.SECKILL_LOCAL_CACHE_TTL))  # seconds
# what the page shows, besides its id and status
PAGE_FIELDS = ("name", "price", "start_time", "end_time", "stock_total", "stock_left_live")
PAGE_FIELDS += ("per_user_limit", "is_enabled", "anti_bot", "challenge_cost", "path_lead_seconds")
PAGE_FIELDS += ("max_admissions_per_second", "sale_mode", "waitlist_until")
_pages: dict[int, tuple[tuple, bytes, str]] = {}  # product id -> (what it shows, the page, its ETag)


def product_page(request, product_id: int) -> HttpResponse:
    """GET /api/products/<id>/ (also answered before DRF: seckill/purchases/early_answers.py).
    Raises ProductNotFound."""
    product = sale_cache.product_get_cached(product_id=product_id)
    # Serializing costs more than the rest of the request: each process keeps the page it last built for what
    # it shows and builds it again only when something shown changes (a field, the live stock, the status).
    shown = (*(getattr(product, f) for f in PAGE_FIELDS), catalogue_services.product_status_live(product))
    page = _pages.get(product_id)
    if page is None or page[0] != shown:
        body = JSONRenderer().render(ProductOutputSerializer(product).data)
        etag = f'"{hashlib.blake2b(body, digest_size=8).hexdigest()}"'
        if len(_pages) >= 10_000:
            _pages.clear()
        page = _pages[product_id] = (shown, body, etag)
    _, body, etag = page
    # max-age 1: no browser or proxy shows a stock figure older than a web process may
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={PAGE_MAX_AGE}"}
    if etag in request.headers.get("If-None-Match", ""):
        return HttpResponse(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
    # the page as rendered once (the API renders JSON only: seckill_site.negotiation)
    return HttpResponse(body, content_type="application/json", headers=headers)


class ReadOrModelPermissions(DjangoModelPermissions):
    """Anyone may read the catalogue; writes need the model's permission (add_product, change_product)."""

    def has_permission(self, request, view):
        if not hasattr(view, request.method.lower()):  # a method the view has not: its 405, not a 403
            return True
        return request.method in SAFE_METHODS or super().has_permission(request, view)


class ProductOutputSerializer(serializers.ModelSerializer):
    stock_left = serializers.IntegerField(source="stock_left_live")
    status = serializers.SerializerMethodField()
    draw_url = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = [
            "id",
            "name",
            "price",
            "start_time",
            "end_time",
            "stock_total",
            "stock_left",
            "per_user_limit",
            "is_enabled",
            "status",
            "anti_bot",
            "challenge_cost",
            "path_lead_seconds",
            "max_admissions_per_second",
            "sale_mode",
            "waitlist_until",
            "draw_url",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_draw_url(self, product: Product) -> str | None:
        """A draw's public record (its commitment, then its seed and entry list): docs/draw.md."""
        return reverse("draw-record", kwargs={"product_id": product.pk}) if product.is_draw else None

    def get_status(self, product: Product) -> str:
        return catalogue_services.product_status_live(product).value


PRICE = re.compile(r"^[0-9]{1,8}(\.[0-9]{1,2})?$")


@extend_schema_field({"type": "string", "format": "decimal", "pattern": PRICE.pattern, "example": "12.50"})
class PriceField(serializers.DecimalField):
    """A price as a decimal string ("12.50"), as the API writes it: a JSON number is refused (a float is not an
    amount of money), and so is any string the schema's pattern does not match."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=10, decimal_places=2, min_value=0, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not PRICE.fullmatch(data):
            raise serializers.ValidationError('A decimal string of at most 8 digits and 2 decimals, e.g. "12.50".')
        return super().to_internal_value(data)


# One character Python does not strip: \s, which is what JSON Schema's (ECMA-262) \s means, and the control
# separators and NEL Python counts as whitespace too (a name of "\x1d" would otherwise be schema-valid and blank).
NOT_BLANK = r"[^\s\x1c-\x1f\x85]"


class ProductInputSerializer(StrictSerializer):
    # A name is trimmed of whitespace (Python's: control separators too) and may not be blank: the schema says so
    # with a pattern (one character that is not whitespace), which is what the trimmed name needs.
    name = serializers.CharField(max_length=200, validators=[RegexValidator(NOT_BLANK, "Must not be blank.")])
    price = PriceField(default=Decimal("0"))
    stock_total = serializers.IntegerField(min_value=0, max_value=10_000_000)
    per_user_limit = serializers.IntegerField(min_value=1, max_value=1000, default=1)
    start_time = serializers.DateTimeField(required=False)
    end_time = serializers.DateTimeField(required=False)
    is_enabled = serializers.BooleanField(default=True)
    anti_bot = serializers.ChoiceField(
        choices=AntiBot.choices,
        required=False,
        help_text="What a purchase must carry: `off` nothing, `path` a one-time purchase path, `challenge` a path "
        "that costs a solved proof-of-work challenge.",
    )
    challenge_cost = serializers.IntegerField(
        min_value=1, max_value=MAX_CHALLENGE_COST, required=False, help_text="The challenge's steps, at most."
    )
    path_lead_seconds = serializers.IntegerField(
        min_value=0, max_value=86_400, required=False, help_text="Challenges and paths are issued this early."
    )
    max_admissions_per_second = serializers.IntegerField(
        min_value=0,
        max_value=1_000_000,
        required=False,
        help_text="Purchase requests a second that may reach the workers (0: no cap); beyond it 429 `busy`.",
    )
    sale_mode = serializers.ChoiceField(
        choices=SaleMode.choices,
        required=False,
        help_text="`first_come`, or `draw`: POST /api/seckill/ in the window enters a draw held at its end "
        "(docs/draw.md). Set before the sale starts.",
    )
    waitlist_until = serializers.DateTimeField(
        required=False, allow_null=True, help_text="A draw's waitlist closes then (null: two hours after the end)."
    )


class ProductPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ProductOutputSerializer(many=True)


class ProductPagination(StrictLimitOffsetPagination):
    default_limit = 50
    max_limit = 500


class _ProductApiBase(APIView):
    # Writes need Django's model permissions (add_product, change_product: the admin's groups give them), read
    # from the database, so these endpoints use the database-backed JWT check; they are not on the hot path.
    authentication_classes = [JWTAuthentication, SessionAuthentication]
    permission_classes = [ReadOrModelPermissions]
    queryset = Product.objects.none()  # (the model whose permissions count)


class ProductListApi(_ProductApiBase):
    @extend_schema(
        summary="The catalogue, with live stock (public)",
        operation_id="products_list",
        auth=[],
        parameters=[
            OpenApiParameter(
                "limit", {"type": "integer", "minimum": 1}, description="page size: default 50; above 500: 500"
            ),
            OpenApiParameter("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}),
        ],
        responses={200: ProductPageSerializer, **error_responses("invalid_request", authenticated=False)},
    )
    def get(self, request):
        paginator = ProductPagination()
        page = paginator.paginate_queryset(selectors.product_list(), request, view=self)
        products = catalogue_services.product_attach_live_stock(page)
        return paginator.get_paginated_response(ProductOutputSerializer(products, many=True).data)

    @extend_schema(
        summary="Create a product (products.add_product)",
        request=ProductInputSerializer,
        responses={201: ProductOutputSerializer, **error_responses("invalid_request", "permission_denied")},
    )
    def post(self, request):
        data = ProductInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        product = catalogue_services.product_create(**data.validated_data)
        product = catalogue_services.product_attach_live_stock([product])[0]
        return Response(ProductOutputSerializer(product).data, status=status.HTTP_201_CREATED)


class ProductDetailApi(_ProductApiBase):
    def perform_authentication(self, request):
        # The page is public: a GET reads no user (DRF authenticates lazily, and the permission never asks for
        # one on a read), so a crowd refreshing it with their tokens costs no user query. Writes authenticate.
        if request.method not in SAFE_METHODS:
            super().perform_authentication(request)

    @extend_schema(
        summary="A product, with live stock (public)",
        description="Served from the web process' copy of the product and its sale state: the row and the stock "
        "are at most SECKILL_LOCAL_CACHE_TTL (1 s) old. Answers carry an ETag; `If-None-Match` with it answers 304 "
        "while nothing shown changed.",
        auth=[],
        responses={
            200: ProductOutputSerializer,
            304: OpenApiResponse(description="not modified (If-None-Match)"),
            **error_responses("product_not_found", authenticated=False),
        },
    )
    def get(self, request, product_id: int):
        return product_page(request, product_id)

    @extend_schema(
        summary="Edit a product (products.change_product); stock changes reach Redis as a delta",
        request=ProductInputSerializer(partial=True),
        responses={
            200: ProductOutputSerializer,
            **error_responses(
                "invalid_request",
                "permission_denied",
                "product_not_found",
                "sale_started",
                "stock_conflict",
                "waitlist_before_end",
                "unavailable",
            ),
        },
    )
    def patch(self, request, product_id: int):
        product = selectors.product_get(product_id=product_id)
        data = ProductInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        product = catalogue_services.product_update(product=product, **data.validated_data)
        product = catalogue_services.product_attach_live_stock([product])[0]
        return Response(ProductOutputSerializer(product).data)


def product_page_view():
    """The view of /api/products/<id>/: a GET's page (product_page) before DRF's request handling, then
    ProductDetailApi for the rest (PATCH, errors). Only while the DRF view reads no user on a GET and lets anyone
    read (seckill_site/integrations/drf_early_answer.py; SECKILL_BEFORE_DRF=0: through DRF)."""
    set_up_as_assumed = (
        list(ProductDetailApi.permission_classes) == [ReadOrModelPermissions]
        and not list(ProductDetailApi.throttle_classes)
        and ProductDetailApi.perform_authentication is not APIView.perform_authentication
    )
    return view_with_early_answer(ProductDetailApi, _early_page, method="GET", set_up_as_assumed=set_up_as_assumed)


def _early_page(request, *args, product_id: int, **kwargs):
    return product_page(request, product_id) if settings.SECKILL_BEFORE_DRF else None
