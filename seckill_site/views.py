from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


class ServerTimeSerializer(serializers.Serializer):
    now = serializers.DateTimeField()
    epoch_ms = serializers.IntegerField()


class ServerTimeApi(APIView):
    """The server's clock, for clients' countdowns to a sale."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(summary="The server's clock", responses={200: ServerTimeSerializer})
    def get(self, request):
        now = timezone.now()
        return Response({"now": now.isoformat(), "epoch_ms": int(now.timestamp() * 1000)})


INDEX = """<!doctype html><html><head><meta charset="utf-8"><title>seckill</title></head><body>
<h1>seckill</h1><p>A flash-sale backend.</p><ul>
<li><a href="/shop/">The shop</a>: a buyer's page for each product on sale</li>
<li><a href="/api/docs/">API docs</a> (the OpenAPI schema: <a href="/api/schema/">/api/schema/</a>)</li>
<li><a href="/admin/">Admin</a>: products, orders, blacklists, payment events, reconciliation</li>
<li><a href="/api/products/">GET /api/products/</a>: the catalogue</li>
<li><a href="/api/time/">GET /api/time/</a>: the server's clock</li>
<li><a href="/healthz">/healthz</a> and <a href="/readyz">/readyz</a>: probes for a load balancer</li>
</ul></body></html>"""


def index(request):
    """Where a newcomer who opens the site lands: the way to the admin, the API and the probes."""
    return HttpResponse(INDEX)
