from django.urls import path

from seckill import apis, auth_apis, order_apis

urlpatterns = [
    path("auth/token/", auth_apis.TokenObtainApi.as_view(), name="token-obtain"),
    path("auth/token/refresh/", auth_apis.TokenRefreshApi.as_view(), name="token-refresh"),
    path("seckill/requests/<str:request_id>/", apis.SeckillRequestDetailApi.as_view(), name="seckill-request-detail"),
    path("orders/", order_apis.OrderListApi.as_view(), name="order-list"),
    path("orders/<int:order_id>/", order_apis.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<int:order_id>/pay/", order_apis.OrderPayApi.as_view(), name="order-pay"),
    path("orders/<int:order_id>/cancel/", order_apis.OrderCancelApi.as_view(), name="order-cancel"),
    path("payments/webhook/", order_apis.PaymentWebhookApi.as_view(), name="payment-webhook"),
]
