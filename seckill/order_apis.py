"""The buyer's orders: list, detail, pay (the demo checkout) and cancel; the payment provider's webhook."""

from django.conf import settings
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from seckill import orders, payments, selectors
from seckill.apis import caller_id
from seckill.errors import OrderNotFound
from seckill.models import Order
from seckill.purchase_tokens import purchase_token_make
from seckill_site.errors import PayloadTooLarge, http_status_for
from seckill_site.exception_handler import error_response


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


class OrderPagination(CursorPagination):
    """Newest first; a cursor stays right while new orders arrive (offsets would shift under them)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class OrderListApi(APIView):
    def get(self, request):
        paginator = OrderPagination()
        page = paginator.paginate_queryset(selectors.order_list(user_id=caller_id(request)), request, view=self)
        return paginator.get_paginated_response(OrderOutputSerializer(page, many=True).data)


class OrderDetailApi(APIView):
    def get(self, request, order_id: int):
        try:
            order = selectors.order_get(user_id=caller_id(request), order_id=order_id)
        except Order.DoesNotExist:
            raise OrderNotFound() from None
        return Response(OrderOutputSerializer(order).data)


class OrderPayApi(APIView):
    """The stand-in for a checkout (SECKILL_DEMO_PAYMENTS): pays the caller's pending order at once."""

    def post(self, request, order_id: int):
        if not settings.SECKILL_DEMO_PAYMENTS:
            raise NotFound("Payments go through the payment provider here.")
        order = orders.order_pay(order_id=order_id, user_id=caller_id(request))
        return Response(OrderOutputSerializer(order).data)


class OrderCancelApi(APIView):
    def post(self, request, order_id: int):
        order = orders.order_cancel(order_id=order_id, user_id=caller_id(request))
        return Response(OrderOutputSerializer(order).data)


class PaymentWebhookApi(APIView):
    """The payment provider's confirmation, signed (Seckill-Signature); read as raw bytes, as signed."""

    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = []

    def post(self, request):
        body = request.body[: settings.SECKILL_MAX_BODY_BYTES + 1]
        if len(body) > settings.SECKILL_MAX_BODY_BYTES:
            return error_response(PayloadTooLarge())
        answer = payments.payment_webhook_receive(body=body, signature=request.META.get("HTTP_SECKILL_SIGNATURE"))
        error = payments.answer_error(answer)
        if error is not None:
            return error_response(error)
        data = {"code": answer.code, "order": OrderOutputSerializer(answer.order).data if answer.order else None}
        return Response(data, status=http_status_for("success"))
