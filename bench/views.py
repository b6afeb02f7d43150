"""Benchmark-only endpoints, mounted at /bench/ by bench/settings.py (never in production).

- POST /bench/naive/buy/: the deliberately naive comparator a team would otherwise build: the view itself runs
  the conditional UPDATE and inserts the order, synchronously. No Redis, no Celery.
- POST /bench/noop/: a Celery round trip with no work (enqueue + wait on the AsyncResult).
"""

import uuid

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.tasks import noop_task
from products.models import Product
from seckill.models import Order


class NaiveBuyApi(APIView):
    def post(self, request):
        try:
            product_id, user_id = int(request.data["product_id"]), int(request.user.id)
        except (KeyError, TypeError, ValueError):
            return Response({"code": "invalid_request", "detail": "product_id"}, status=status.HTTP_400_BAD_REQUEST)
        now = timezone.now()
        try:
            with transaction.atomic():
                taken = Product.objects.filter(
                    pk=product_id, stock_left__gte=1, is_enabled=True, start_time__lte=now, end_time__gt=now
                ).update(stock_left=F("stock_left") - 1)
                if not taken:
                    return Response({"code": "sold_out", "detail": "Sold out."}, status=status.HTTP_409_CONFLICT)
                price = Product.objects.values_list("price", flat=True).get(pk=product_id)
                order = Order.objects.create(
                    request_id=uuid.uuid4().hex, user_id=user_id, product_id=product_id, quantity=1, unit_price=price
                )
        except IntegrityError:  # the buyer's second order: the whole transaction, stock included, rolls back
            return Response({"code": "already_purchased", "detail": "Already bought."}, status=status.HTTP_409_CONFLICT)
        return Response({"code": "success", "order_id": order.pk, "user_id": user_id, "product_id": product_id})


class NoopRoundTripApi(APIView):
    def post(self, request):
        result = noop_task.apply_async()
        payload = result.get(timeout=settings.SECKILL_RESULT_TIMEOUT)
        return Response(payload)
