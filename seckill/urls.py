from django.urls import path

from seckill import apis

urlpatterns = [
    path("seckill/", apis.SeckillBuyApi.as_view(), name="seckill-buy"),
    path("seckill/requests/<str:request_id>/", apis.SeckillRequestDetailApi.as_view(), name="seckill-request-detail"),
    path("orders/", apis.OrderListApi.as_view(), name="order-list"),
    path("orders/<int:order_id>/", apis.OrderDetailApi.as_view(), name="order-detail"),
]
