"""POST /api/seckill/ alone, included first by seckill_site/urls.py: most requests of a sale are this one, and each
pattern tried before it costs every one of them a failed match."""

from django.urls import path

from seckill.before_drf import purchase_view

# SeckillBuyApi, after the refusals a process answers from its cached sale state (seckill/before_drf.py)
urlpatterns = [path("", purchase_view(), name="seckill-buy")]
