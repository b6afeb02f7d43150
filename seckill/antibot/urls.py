"""A product's anti-bot endpoints, under /api/seckill/ (after the purchase: seckill_site/urls.py)."""

from django.urls import path

from seckill.antibot.api import ChallengeApi, PathApi

urlpatterns = [
    path("<int:product_id>/challenge/", ChallengeApi.as_view(), name="seckill-challenge"),
    path("<int:product_id>/path/", PathApi.as_view(), name="seckill-path"),
]
