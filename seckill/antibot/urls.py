"""A product's anti-bot endpoints, under /api/seckill/ (after the purchase: seckill_site/urls.py)."""

from django.urls import path

from seckill.antibot.api import ChallengeApi
from seckill.antibot.early_answers import path_view

urlpatterns = [
    path("<int:product_id>/challenge/", ChallengeApi.as_view(), name="seckill-challenge"),
    path("<int:product_id>/path/", path_view(), name="seckill-path"),  # PathApi, a plain request before DRF
]
