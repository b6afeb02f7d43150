"""The buyer's orders: list, detail, pay (the demo checkout) and cancel; the payment provider's webhook."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from seckill.access.callers import BUYER_CODES, ActiveBuyer, caller_id
from seckill.access.purchase_tokens import purchase_token_make
from seckill.errors import OrderNotFound
from seckill.models import Order
from seckill.orders import payments, selectors
from seckill.orders import services as order_services
from seckill_site.errors import PayloadTooLarge, http_status_for
from seckill_site.exception_handler import error_response
from seckill_site.openapi import error_responses
from seckill_site.pagination import StrictCursorPagination


class OrderOutputSerializer(serializers.ModelSerializer):
    product_name = serializers.CharField(source="product.name")
    purchase_token = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "id",
            "request_id",
            "product_id",
            "product_name",
            "user_id",
            "quantity",
            "unit_price",
            "status",
            "created_at",
            "pay_by",
            "paid_at",
            "closed_at",
            "purchase_token",
        ]

    def get_purchase_token(self, order: Order) -> str:
        return purchase_token_make(order_id=order.pk, user_id=order.user_id, product_id=order.product_id)


class OrderPagination(StrictCursorPagination):
    """Newest first; a cursor stays right while new orders arrive (offsets would shift under them)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class OrderPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="the next page (an opaque cursor)")
    previous = serializers.URLField(allow_null=True)
    results = OrderOutputSerializer(many=True)


class OrderListApi(APIView):
    permission_classes = [ActiveBuyer]

    @extend_schema(
        summary="My orders, newest first",
        operation_id="orders_list",
        parameters=[
            OpenApiParameter("page_size", {"type": "integer", "minimum": 1}, description="default 50; above 500: 500"),
            OpenApiParameter("cursor", str, description="the position, from a page's `next` or `previous` link"),
        ],
        responses={200: OrderPageSerializer, **error_responses("invalid_request", "not_found", *BUYER_CODES)},
    )
    def get(self, request):
        paginator = OrderPagination()
        page = paginator.paginate_queryset(selectors.order_list(user_id=caller_id(request)), request, view=self)
        return paginator.get_paginated_response(OrderOutputSerializer(page, many=True).data)


class OrderDetailApi(APIView):
    permission_classes = [ActiveBuyer]

    @extend_schema(
        summary="One of my orders",
        responses={200: OrderOutputSerializer, **error_responses("order_not_found", *BUYER_CODES)},
    )
    def get(self, request, order_id: int):
        try:
            order = selectors.order_get(user_id=caller_id(request), order_id=order_id)
        except Order.DoesNotExist:
            raise OrderNotFound() from None
        return Response(OrderOutputSerializer(order).data)


class OrderPayApi(APIView):
    """The stand-in for a checkout (SECKILL_DEMO_PAYMENTS): pays the caller's pending order at once."""

    permission_classes = [ActiveBuyer]

    @extend_schema(
        summary="Pay (demo checkout)",
        request=None,
        responses={
            200: OrderOutputSerializer,
            **error_responses("not_found", "order_not_found", "order_expired", "order_cancelled", *BUYER_CODES),
        },
    )
    def post(self, request, order_id: int):
        if not settings.SECKILL_DEMO_PAYMENTS:
            raise NotFound("Payments go through the payment provider here.")
        order = order_services.order_pay(order_id=order_id, user_id=caller_id(request))
        return Response(OrderOutputSerializer(order).data)


class OrderCancelApi(APIView):
    permission_classes = [ActiveBuyer]

    @extend_schema(
        summary="Cancel an unpaid order",
        request=None,
        responses={
            200: OrderOutputSerializer,
            **error_responses("order_not_found", "order_paid", "order_expired", *BUYER_CODES),
        },
    )
    def post(self, request, order_id: int):
        order = order_services.order_cancel(order_id=order_id, user_id=caller_id(request))
        return Response(OrderOutputSerializer(order).data)


@extend_schema_field({"type": "string", "pattern": payments.AMOUNT.pattern, "example": "25.00"})
class _AmountField(serializers.CharField):
    pass


class PaymentEventSerializer(serializers.Serializer):
    """The webhook's body (read as signed bytes and checked by seckill.payments; this describes it for the
    schema). Strings hold no NUL character."""

    event_id = serializers.CharField(min_length=1, max_length=128)
    order_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    amount = _AmountField(help_text="a decimal string: the order's unit_price × quantity")
    status = serializers.CharField(max_length=32, help_text="succeeded, or anything else (kept, ignored)")
    paid_at = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=payments.MAX_EPOCH - 1,
        help_text="unix time the payment was made; a payment made before the order's pay_by pays it even after it "
        "expired, while its units are unsold",
    )


class PaymentAnswerSerializer(serializers.Serializer):
    code = serializers.CharField()
    order = OrderOutputSerializer(allow_null=True)


class PaymentWebhookApi(APIView):
    """The payment provider's confirmation, signed (Seckill-Signature); read as raw bytes, as signed."""

    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = []

    @extend_schema(
        summary="Payment provider's webhook",
        # (no parser: the body is read as the bytes signed; the media type is named or the body is left out)
        request={"application/json": PaymentEventSerializer},
        parameters=[
            OpenApiParameter(
                "Seckill-Signature",
                str,
                OpenApiParameter.HEADER,
                required=True,
                description='t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>"> with the webhook secret',
            )
        ],
        responses={
            200: OpenApiResponse(PaymentAnswerSerializer, description="code `success` or `ignored`"),
            **error_responses(
                "invalid_signature",
                "stale_signature",
                "invalid_request",
                "amount_mismatch",
                "already_paid",
                "payload_too_large",
                "order_not_found",
                "order_expired",
                "order_cancelled",
                authenticated=False,
            ),
        },
    )
    def post(self, request):
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > settings.SECKILL_MAX_BODY_BYTES:  # refused before it is read
            return error_response(PayloadTooLarge())
        body = request.body[: settings.SECKILL_MAX_BODY_BYTES + 1]
        if len(body) > settings.SECKILL_MAX_BODY_BYTES:
            return error_response(PayloadTooLarge())
        answer = payments.payment_webhook_receive(body=body, signature=request.META.get("HTTP_SECKILL_SIGNATURE"))
        error = payments.answer_error(answer)
        if error is not None:
            return error_response(error)
        data = {"code": answer.code, "order": OrderOutputSerializer(answer.order).data if answer.order else None}
        return Response(data, status=http_status_for(answer.code))
