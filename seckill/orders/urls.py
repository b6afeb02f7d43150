from django.urls import path

from seckill.orders import api

urlpatterns = [
    path("orders/", api.OrderListApi.as_view(), name="order-list"),
    path("orders/<int:order_id>/", api.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<int:order_id>/pay/", api.OrderPayApi.as_view(), name="order-pay"),
    path("orders/<int:order_id>/cancel/", api.OrderCancelApi.as_view(), name="order-cancel"),
    path("payments/webhook/", api.PaymentWebhookApi.as_view(), name="payment-webhook"),
]
