"""POST /api/seckill/ alone, included first by seckill_site/urls.py: most requests of a sale are this one, and each
pattern tried before it costs every one of them a failed match."""

from django.urls import path

from seckill import apis

urlpatterns = [path("", apis.SeckillBuyApi.as_view(), name="seckill-buy")]
