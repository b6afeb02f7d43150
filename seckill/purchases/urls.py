"""The purchase (POST /api/seckill/), included first by seckill_site/urls.py: most requests of a sale are this one,
and each pattern tried before it costs every one of them a failed match; and its outcome."""

from django.urls import path

from seckill.purchases.api import SeckillRequestDetailApi
from seckill.purchases.early_answers import purchase_view

urlpatterns = [
    # SeckillBuyApi, after the refusals a process answers from its cached sale state (early_answers.py)
    path("", purchase_view(), name="seckill-buy"),
    path("requests/<str:request_id>/", SeckillRequestDetailApi.as_view(), name="seckill-request-detail"),
]
